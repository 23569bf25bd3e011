/* fuzz: what every fuzz target shares. A target defines
 * LLVMFuzzerTestOneInput(); it is linked either with libFuzzer (clang,
 * -DORDERFLEET_FUZZ=ON: tests/fuzz/CMakeLists.txt) or with replay.c, a
 * main() that feeds it every file of the seed corpus and the regressions (the
 * test_fuzz_* ctests, built by every compiler).
 *
 * A target must be deterministic, keep no state between inputs beyond
 * caches, and free everything it allocates: libFuzzer reports leaks. A
 * property that does not hold calls FUZZ_CHECK, which aborts: a crash to
 * libFuzzer and to the replay test alike. */
#ifndef ORDERFLEET_TESTS_FUZZ_H
#define ORDERFLEET_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Aborts with the condition, the message and where, when cond is false. */
#define FUZZ_CHECK(cond, msg)                                                            \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            fprintf(stderr, "%s:%d: property failed: %s: %s\n", __FILE__, __LINE__, #cond, \
                    msg);                                                                \
            abort();                                                                     \
        }                                                                                \
    } while (0)

/* A malloc'd copy of data[0..size) with a NUL after it: the caller frees it.
 * Aborts when out of memory (nothing to fuzz then). */
static inline char *fuzz_strndup(const uint8_t *data, size_t size) {
    char *s = malloc(size + 1);
    if (!s) abort();
    for (size_t i = 0; i < size; i++) s[i] = (char)data[i];
    s[size] = '\0';
    return s;
}

#endif
