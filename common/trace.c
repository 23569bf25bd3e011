#include "common/trace.h"

#include <string.h>

#include "common/ids.h"

#define TRACE_ID_AT 3  /* "00-" */
#define SPAN_ID_AT 36  /* "00-<32>-" */
#define FLAGS_AT 53    /* "00-<32>-<16>-" */

static const char hex[] = "0123456789abcdef";

static int is_lower_hex(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
    return 1;
}

static int all_zero(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] != '0') return 0;
    return 1;
}

int trace_valid(const char *tp, size_t len) {
    if (!tp || len < TRACE_PARENT_LEN) return 0;
    if (!is_lower_hex(tp, 2) || memcmp(tp, "ff", 2) == 0) return 0;
    /* Version 00 is exactly 55 characters; a later one may append fields. */
    if (memcmp(tp, "00", 2) == 0 ? len != TRACE_PARENT_LEN
                                 : len > TRACE_PARENT_LEN && tp[TRACE_PARENT_LEN] != '-')
        return 0;
    if (tp[2] != '-' || tp[SPAN_ID_AT - 1] != '-' || tp[FLAGS_AT - 1] != '-') return 0;
    if (!is_lower_hex(tp + TRACE_ID_AT, 32) || all_zero(tp + TRACE_ID_AT, 32)) return 0;
    if (!is_lower_hex(tp + SPAN_ID_AT, 16) || all_zero(tp + SPAN_ID_AT, 16)) return 0;
    return is_lower_hex(tp + FLAGS_AT, 2);
}

/* n random bytes as 2n lowercase hex digits at out, never all zeros. */
static void random_hex(char *out, size_t n) {
    unsigned char b[16];
    id_random_bytes(b, n);
    b[0] |= 0x01;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[b[i] >> 4];
        out[2 * i + 1] = hex[b[i] & 0x0f];
    }
}

void trace_new(char out[TRACE_PARENT_LEN + 1]) {
    memcpy(out, "00-", 3);
    random_hex(out + TRACE_ID_AT, 16);
    out[SPAN_ID_AT - 1] = '-';
    random_hex(out + SPAN_ID_AT, 8);
    memcpy(out + FLAGS_AT - 1, "-01", 4); /* sampled */
}

int trace_child(const char *parent, size_t parent_len, char out[TRACE_PARENT_LEN + 1]) {
    if (!trace_valid(parent, parent_len)) {
        trace_new(out);
        return 0;
    }
    /* We speak version 00: a later version's trace id and flags carry over
     * into a version-00 header, its extra fields do not. */
    memcpy(out, "00-", 3);
    memcpy(out + TRACE_ID_AT, parent + TRACE_ID_AT, 32);
    out[SPAN_ID_AT - 1] = '-';
    random_hex(out + SPAN_ID_AT, 8);
    out[FLAGS_AT - 1] = '-';
    memcpy(out + FLAGS_AT, parent + FLAGS_AT, 2);
    out[TRACE_PARENT_LEN] = '\0';
    return 1;
}
