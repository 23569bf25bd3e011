#define _GNU_SOURCE
#include "common/ids.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "common/timeutil.h"

/* Fills buf from the kernel's CSPRNG, retrying interrupted calls. */
static void fill_random(unsigned char *p, size_t len) {
    while (len > 0) {
        ssize_t n = getrandom(p, len, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            /* Only possible without a kernel CSPRNG (pre-3.17): nothing we can
             * safely fall back to for ids that must not collide. */
            perror("getrandom");
            abort();
        }
        p += n;
        len -= (size_t)n;
    }
}

/* Every record carries two random ids (ce_id, a span id), so a system call
 * each was a measurable share of the worker's time: each thread draws
 * RANDOM_BLOCK bytes at a time instead and hands them out once each. The
 * block is per thread (no lock, nothing shared); the programs never fork
 * after drawing, so no two processes hand out the same bytes. */
#define RANDOM_BLOCK 512

typedef struct random_block {
    unsigned char bytes[RANDOM_BLOCK];
    size_t used; /* RANDOM_BLOCK: empty */
} random_block;

static _Thread_local random_block thread_random = {.used = RANDOM_BLOCK};

void id_random_bytes(void *buf, size_t len) {
    unsigned char *p = buf;
    random_block *rb = &thread_random;
    if (len > RANDOM_BLOCK / 4) { /* large requests straight from the kernel */
        fill_random(p, len);
        return;
    }
    while (len > 0) {
        if (rb->used == RANDOM_BLOCK) {
            fill_random(rb->bytes, RANDOM_BLOCK);
            rb->used = 0;
        }
        size_t n = RANDOM_BLOCK - rb->used < len ? RANDOM_BLOCK - rb->used : len;
        memcpy(p, rb->bytes + rb->used, n);
        memset(rb->bytes + rb->used, 0, n); /* handed out once */
        rb->used += n;
        p += n;
        len -= n;
    }
}

void id_uuid7(char out[ID_UUID_LEN + 1]) {
    unsigned char b[16];
    uint64_t ms = (uint64_t)time_now_ms();
    id_random_bytes(b + 6, 10);
    for (int i = 0; i < 6; i++) b[i] = (unsigned char)(ms >> (40 - 8 * i));
    b[6] = (unsigned char)(0x70 | (b[6] & 0x0f)); /* version 7 */
    b[8] = (unsigned char)(0x80 | (b[8] & 0x3f)); /* variant 10 */
    static const char hex[] = "0123456789abcdef";
    char *o = out;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) *o++ = '-';
        *o++ = hex[b[i] >> 4];
        *o++ = hex[b[i] & 0x0f];
    }
    *o = '\0';
}

int id_order_valid(const char *id, size_t len) {
    if (len == 0 || len > ID_ORDER_MAX) return 0;
    for (size_t i = 0; i < len; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.' || c == '_' || c == '~'))
            return 0;
    }
    return 1;
}
