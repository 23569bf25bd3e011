/* order_codec: protobuf encode/decode of the contract's messages, with the
 * checks protobuf-c leaves to us (proto3 strings must be valid UTF-8). */
#ifndef ORDERFLEET_ORDER_CODEC_H
#define ORDERFLEET_ORDER_CODEC_H

#include <stddef.h>

#include "order.pb-c.h"

typedef Orderfleet__V1__OrderPlaced order_placed_t;
typedef Orderfleet__V1__OrderCompleted order_completed_t;
typedef Orderfleet__V1__LineItem line_item_t;

#define CODEC_OK 0
#define CODEC_ERR -1

/* Decodes an OrderPlaced. Returns NULL with the reason in errstr when the
 * bytes are not a well-formed OrderPlaced (malformed, truncated, wrong wire
 * types) or a string is not UTF-8. Unknown fields are tolerated. The caller
 * frees the result with codec_placed_free(). */
order_placed_t *codec_placed_decode(const void *buf, size_t len, char *errstr, size_t errsize);

/* Same for OrderCompleted; free with codec_completed_free(). */
order_completed_t *codec_completed_decode(const void *buf, size_t len, char *errstr,
                                          size_t errsize);

/* Encodes msg into a new malloc'd buffer the caller frees; *len gets its size.
 * Returns NULL only when out of memory. */
void *codec_placed_encode(const order_placed_t *msg, size_t *len);
void *codec_completed_encode(const order_completed_t *msg, size_t *len);

/* Frees a message from a decode above or from the order_json parsers: every
 * field allocated with malloc, as protobuf-c's own unpack does. NULL is ok. */
void codec_placed_free(order_placed_t *msg);
void codec_completed_free(order_completed_t *msg);

/* "FULFILLED", "REJECTED", "FAILED" or "UNSPECIFIED". */
const char *codec_status_short_name(int status);

/* Non-zero when s[0..len) is valid UTF-8 (no overlongs, no surrogates). */
int codec_utf8_valid(const char *s, size_t len);

/* Makes the NUL-terminated s valid UTF-8 in place, for texts made from other
 * people's strings (an outcome's reason) before they go into a message whose
 * strings must be UTF-8: a character cut short at the end (by a buffer's size)
 * is dropped, and any other byte that does not begin a valid character
 * becomes '?'. Returns how many bytes changed (0: it was valid). */
size_t codec_utf8_scrub(char *s);

#endif
