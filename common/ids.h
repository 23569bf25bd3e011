/* ids: unique identifiers for orders and events. */
#ifndef ORDERFLEET_IDS_H
#define ORDERFLEET_IDS_H

#include <stddef.h>
#include <stdint.h>

#define ID_UUID_LEN 36 /* "xxxxxxxx-xxxx-7xxx-yxxx-xxxxxxxxxxxx" */

/* Writes a UUIDv7 (RFC 9562: 48-bit ms timestamp, then 74 random bits) into
 * out, NUL-terminated. Time-ordered, so ids sort by creation time and index
 * well, and unique without coordination between producers and gateways. */
void id_uuid7(char out[ID_UUID_LEN + 1]);

/* Fills buf with len bytes from the kernel's CSPRNG (getrandom). */
void id_random_bytes(void *buf, size_t len);

/* The longest order id, in bytes. The worker dead-letters a longer one as
 * unidentifiable; the gateway and the producer refuse it. */
#define ID_ORDER_MAX 128

/* 1 when id[0..len) is an order id a URL path segment holds as it is, and
 * so one the gateway (body and path) and the producer accept: 1 to
 * ID_ORDER_MAX characters of RFC 3986's unreserved set, A-Z a-z 0-9 - . _ ~.
 * (Generated ids, UUIDv7, are of that kind.) */
int id_order_valid(const char *id, size_t len);

#endif
