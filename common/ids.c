#define _GNU_SOURCE
#include "common/ids.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>

#include "common/timeutil.h"

void id_random_bytes(void *buf, size_t len) {
    unsigned char *p = buf;
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

void id_uuid7(char out[ID_UUID_LEN + 1]) {
    unsigned char b[16];
    uint64_t ms = (uint64_t)time_now_ms();
    id_random_bytes(b + 6, 10);
    for (int i = 0; i < 6; i++) b[i] = (unsigned char)(ms >> (40 - 8 * i));
    b[6] = (unsigned char)(0x70 | (b[6] & 0x0f)); /* version 7 */
    b[8] = (unsigned char)(0x80 | (b[8] & 0x3f)); /* variant 10 */
    snprintf(out, ID_UUID_LEN + 1,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
             b[13], b[14], b[15]);
}
