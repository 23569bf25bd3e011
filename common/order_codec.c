/* order_codec: protobuf encode/decode of OrderPlaced and OrderCompleted.
 *
 * protobuf-c does the wire format; what it leaves to us is proto3's rule that
 * a string field holds valid UTF-8. That check walks the message through its
 * descriptor rather than a hand-written list of fields, so a string field
 * added to the schema later is checked without touching this file. */
#include "common/order_codec.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UTF8_PATH_MAX 128

/* The length of the UTF-8 character at p (left bytes available, left > 0):
 * 1..4, or 0 when the bytes there are not one. *cut is set when they are the
 * valid beginning of a character that left does not hold whole. */
static size_t utf8_char(const unsigned char *p, size_t left, int *cut) {
    unsigned char c = p[0];
    *cut = 0;
    if (c < 0x80) return 1;
    /* Lead byte: sequence length and the allowed range of the second byte,
     * which is where overlongs (E0, F0), surrogates (ED) and code points
     * above U+10FFFF (F4) are excluded (RFC 3629 §4). */
    size_t n;
    unsigned char lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0) lo = 0xa0;
        if (c == 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0) lo = 0x90;
        if (c == 0xf4) hi = 0x8f;
    } else {
        return 0; /* continuation byte, C0/C1 overlong lead, or F5..FF */
    }
    for (size_t k = 1; k < n; k++) {
        if (k == left) {
            *cut = 1;
            return 0;
        }
        unsigned char klo = k == 1 ? lo : 0x80, khi = k == 1 ? hi : 0xbf;
        if (p[k] < klo || p[k] > khi) return 0;
    }
    return n;
}

/* Every decoded string passes here, nearly all of them ASCII: those bytes are
 * taken in the loop itself, the rest one character at a time. */
int codec_utf8_valid(const char *s, size_t len) {
    const unsigned char *p = (const unsigned char *)s;
    int cut;
    for (size_t i = 0, n; i < len; i += n) {
        if (p[i] < 0x80) {
            n = 1;
            continue;
        }
        if ((n = utf8_char(p + i, len - i, &cut)) == 0) return 0;
    }
    return 1;
}

size_t codec_utf8_scrub(char *s) {
    unsigned char *p = (unsigned char *)s;
    size_t len = strlen(s), changed = 0;
    int cut;
    for (size_t i = 0, n; i < len; i += n) {
        if ((n = utf8_char(p + i, len - i, &cut)) > 0) continue;
        if (cut) { /* a character cut short by the end: dropped */
            changed += len - i;
            p[i] = '\0';
            break;
        }
        p[i] = '?';
        changed++;
        n = 1;
    }
    return changed;
}

/* Where check_strings() is: one field (and its index, when repeated) per
 * level of nesting, so that the path of a bad string ("items[2].sku") is
 * written only when there is one. */
typedef struct string_frame {
    const ProtobufCFieldDescriptor *fd;
    size_t index;
} string_frame;

#define STRING_DEPTH_MAX 8 /* OrderPlaced nests two deep (items, attributes) */

/* Writes "<path>: invalid UTF-8" into errstr from the frames. */
static void bad_string(const string_frame *frames, size_t depth, char *errstr, size_t errsize) {
    char path[UTF8_PATH_MAX];
    size_t used = 0;
    for (size_t d = 0; d < depth && used < sizeof(path); d++) {
        const ProtobufCFieldDescriptor *fd = frames[d].fd;
        int w = fd->label == PROTOBUF_C_LABEL_REPEATED
                    ? snprintf(path + used, sizeof(path) - used, "%s%s[%zu]", d ? "." : "",
                               fd->name, frames[d].index)
                    : snprintf(path + used, sizeof(path) - used, "%s%s", d ? "." : "", fd->name);
        used += w > 0 ? (size_t)w : 0;
    }
    if (used >= sizeof(path)) used = sizeof(path) - 1;
    path[used] = '\0';
    snprintf(errstr, errsize, "%s: invalid UTF-8", path);
}

/* Checks every string field of msg, recursing into sub-messages (map entries
 * are sub-messages too, so attribute keys and values are covered). On the
 * first bad string writes "<path>: invalid UTF-8" into errstr, the path in
 * proto names with repeated indexes ("items[2].sku"), and returns 0. Cost:
 * one pass over every string byte, nothing else on the good path (the path
 * is built only for an error). protobuf-c NUL-terminates what it unpacks, so
 * a string with an embedded NUL is checked up to that NUL: the part every C
 * reader of the message sees. Nesting deeper than STRING_DEPTH_MAX is not
 * descended into (no such message exists in the schema). Also refuses a
 * field numbered 0 among the unknown fields, at any depth. */
static int check_strings(const ProtobufCMessage *msg, string_frame *frames, size_t depth,
                         char *errstr, size_t errsize) {
    const ProtobufCMessageDescriptor *desc = msg->descriptor;
    const char *base = (const char *)msg;

    /* Not a string, but the same walk: protobuf-c keeps an unknown field
     * numbered 0 when its tag is a padded varint (80 00), yet refuses the
     * one byte 00 it writes back for it, so such a message would not
     * survive its own re-encoding. Field 0 is invalid in protobuf. */
    for (unsigned u = 0; u < msg->n_unknown_fields; u++) {
        if (msg->unknown_fields[u].tag == 0) {
            snprintf(errstr, errsize, "malformed protobuf: a field numbered 0");
            return 0;
        }
    }

    for (unsigned f = 0; f < desc->n_fields; f++) {
        const ProtobufCFieldDescriptor *fd = &desc->fields[f];
        if (fd->type != PROTOBUF_C_TYPE_STRING && fd->type != PROTOBUF_C_TYPE_MESSAGE) continue;
        if ((fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
            *(const uint32_t *)(base + fd->quantifier_offset) != fd->id)
            continue; /* another member of the oneof is set */

        size_t n = 1;
        const void *const *values = (const void *const *)(base + fd->offset);
        if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
            n = *(const size_t *)(base + fd->quantifier_offset);
            values = *(const void *const *const *)(base + fd->offset);
        }
        for (size_t i = 0; i < n; i++) {
            const void *v = values[i];
            if (v == NULL) continue;
            frames[depth] = (string_frame){fd, i};
            if (fd->type == PROTOBUF_C_TYPE_STRING) {
                const char *s = v;
                if (!codec_utf8_valid(s, strlen(s))) {
                    bad_string(frames, depth + 1, errstr, errsize);
                    return 0;
                }
            } else if (depth + 1 < STRING_DEPTH_MAX &&
                       !check_strings(v, frames, depth + 1, errstr, errsize)) {
                return 0;
            }
        }
    }
    return 1;
}

/* Shared by both decoders: unpack, then the UTF-8 check. name is the message
 * name for the error text. */
static ProtobufCMessage *decode(const ProtobufCMessageDescriptor *desc, const char *name,
                                const void *buf, size_t len, char *errstr, size_t errsize) {
    ProtobufCMessage *msg = protobuf_c_message_unpack(desc, NULL, len, buf);
    if (msg == NULL) {
        snprintf(errstr, errsize, "malformed protobuf: not a valid %s (%zu bytes)", name, len);
        return NULL;
    }
    string_frame frames[STRING_DEPTH_MAX];
    if (!check_strings(msg, frames, 0, errstr, errsize)) {
        protobuf_c_message_free_unpacked(msg, NULL);
        return NULL;
    }
    return msg;
}

order_placed_t *codec_placed_decode(const void *buf, size_t len, char *errstr, size_t errsize) {
    return (order_placed_t *)decode(&orderfleet__v1__order_placed__descriptor, "OrderPlaced", buf,
                                    len, errstr, errsize);
}

order_completed_t *codec_completed_decode(const void *buf, size_t len, char *errstr,
                                          size_t errsize) {
    return (order_completed_t *)decode(&orderfleet__v1__order_completed__descriptor,
                                       "OrderCompleted", buf, len, errstr, errsize);
}

/* Packs into a buffer of exactly the packed size; the caller frees it. A
 * zero-length message (all defaults) still gets a 1-byte allocation so that
 * NULL keeps meaning "out of memory". */
static void *encode(const ProtobufCMessage *msg, size_t *len) {
    size_t size = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf = malloc(size > 0 ? size : 1);
    if (buf == NULL) return NULL;
    *len = protobuf_c_message_pack(msg, buf);
    return buf;
}

void *codec_placed_encode(const order_placed_t *msg, size_t *len) {
    return encode(&msg->base, len);
}

void *codec_completed_encode(const order_completed_t *msg, size_t *len) {
    return encode(&msg->base, len);
}

void codec_placed_free(order_placed_t *msg) {
    if (msg) protobuf_c_message_free_unpacked(&msg->base, NULL);
}

void codec_completed_free(order_completed_t *msg) {
    if (msg) protobuf_c_message_free_unpacked(&msg->base, NULL);
}

const char *codec_status_short_name(int status) {
    switch (status) {
    case ORDERFLEET__V1__ORDER_STATUS__ORDER_STATUS_FULFILLED: return "FULFILLED";
    case ORDERFLEET__V1__ORDER_STATUS__ORDER_STATUS_REJECTED: return "REJECTED";
    case ORDERFLEET__V1__ORDER_STATUS__ORDER_STATUS_FAILED: return "FAILED";
    default: return "UNSPECIFIED";
    }
}
