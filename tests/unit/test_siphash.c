/* Unit tests: SipHash-1-3. Known answers from two independent sources, then
 * the properties a table relies on: every key bit and every message byte and
 * the length change the hash, the result does not depend on alignment, and
 * random keys differ. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/siphash.h"

/* SipHash-1-3 under the all-zero key of the messages 00 01 02 ... (len - 1),
 * len = 0..63, as computed with the reference implementation
 * (github.com/veorq/SipHash, cROUNDS=1, dROUNDS=3), as published in OCaml's
 * testsuite (its SipHash-1-3 test, seed 0). The first one is also what Rust's
 * DefaultHasher::new() (a zero-key SipHasher13) gives for no input. */
static const uint64_t zero_key_vectors[64] = {
    0xd1fba762150c532cULL, 0x68a914128e01e473ULL, 0x010bac45c41e3669ULL, 0x4d4c9a4a8ef6e0adULL,
    0x7cc43f98813e4dbdULL, 0x5abe2169dff36275ULL, 0xe3c25f87624f1cdbULL, 0x2f098ab0c751325aULL,
    0xead411e67ebe2eeaULL, 0x75927f9d95124362ULL, 0xaf9f77a65ab51a1dULL, 0xfe64ce8b6617fcffULL,
    0xa6baf4fb0f9fe1c2ULL, 0xa0cf3211850f8e0dULL, 0x7f86049379fbfe67ULL, 0xf30eb725bb91c9eaULL,
    0x8972188433a5c5b7ULL, 0x4883c49a2c009c1dULL, 0xadc2c0b63044067dULL, 0x091f4a3329f87d19ULL,
    0x639e355ae68c0100ULL, 0xb17bef2cb5213239ULL, 0xf8aeb1066236ccfeULL, 0x37332b1389daa4ffULL,
    0x31185a47af932f3aULL, 0xebf352e82ae23e2fULL, 0xed36ff242fe478b2ULL, 0x2454d97d299299dfULL,
    0x8cd57fe8130d0ac7ULL, 0xbe98eb2faf0a0e85ULL, 0xd427c34ee09470c6ULL, 0x169739443111d49bULL,
    0x31ef8061c910629bULL, 0x7fb71d24dfa4c9f6ULL, 0x92771f49e836d389ULL, 0x3c393cf6f0853bc3ULL,
    0xac77921fcc642bd3ULL, 0x422a9751192ff266ULL, 0xc680ae8a8c584ddfULL, 0x6c76b6d34bb6d26bULL,
    0x95bc321ab41d8206ULL, 0x908a3a97a6d37669ULL, 0xfcaf3c64874dd0b4ULL, 0xf689479b32b84a44ULL,
    0xd857641079efd1fdULL, 0x8b581578722633f7ULL, 0x83cb09d35ea7bcd4ULL, 0x8485f7f5ae725a0dULL,
    0xfe1f2445ba50237fULL, 0x23cece041d7866b0ULL, 0x416687480b336c09ULL, 0xf15960da7e7f3892ULL,
    0xded6177b9826835aULL, 0xf80dae51668be6beULL, 0x17ecc6ee6647df18ULL, 0x5220d642b4a52110ULL,
    0xa4f0cf4ba4adc016ULL, 0xe5125bb26d1f2976ULL, 0x851b0e75f580d256ULL, 0x12605250a37e39acULL,
    0xd95a713568daebf1ULL, 0xcdcf4a42ec0dd605ULL, 0xa5c708712b617164ULL, 0x385d3e39e5f37359ULL,
};

static void test_zero_key_vectors(void **state) {
    (void)state;
    static const uint64_t zero[2] = {0, 0};
    unsigned char msg[64];
    for (int i = 0; i < 64; i++) msg[i] = (unsigned char)i;
    for (size_t len = 0; len < 64; len++) {
        uint64_t h = siphash13(zero, msg, len);
        if (h != zero_key_vectors[len])
            fail_msg("len %zu: got %016llx", len, (unsigned long long)h);
    }
    assert_true(siphash13(zero, NULL, 0) == zero_key_vectors[0]);
}

/* A non-zero key, as two words k0 = 0x0001020304050607 and
 * k1 = 0x08090a0b0c0d0e0f, over prefixes of "abcdefghijklmnopqrstuvwxyz0123456789@!";
 * published in the tests of an unrelated SipHash-1-3 (a C++ Starlark
 * runtime's), independent of the source above. They pin which key word is
 * which. */
static void test_keyed_vectors(void **state) {
    (void)state;
    static const uint64_t key[2] = {0x0001020304050607ULL, 0x08090a0b0c0d0e0fULL};
    static const char text[] = "abcdefghijklmnopqrstuvwxyz0123456789@!";
    static const struct {
        size_t len;
        uint64_t hash;
    } v[] = {
        {0, 0x72873bfd1bca2911ULL},  {1, 0x47c474f5b32240c8ULL},  {3, 0x1f64c85d9a3c5aeaULL},
        {4, 0xf4a4f68569da197bULL},  {7, 0xfb907eb5c63fc3d2ULL},  {8, 0x802cf2a628d2fa76ULL},
        {9, 0x92ee4653516c3faaULL},  {15, 0x4b7d9ede3c051becULL}, {16, 0x6ee54dcefca3d689ULL},
        {17, 0xa53dfcce7b94fb7cULL}, {24, 0xdae48ca0312fac3eULL}, {31, 0xb03390418847868dULL},
        {32, 0xeae88ac8d5aa8628ULL}, {38, 0x882b6c5fbf9a9e68ULL},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        uint64_t h = siphash13(key, text, v[i].len);
        if (h != v[i].hash) fail_msg("len %zu: got %016llx", v[i].len, (unsigned long long)h);
    }
    /* the same source: one NUL byte */
    assert_true(siphash13(key, "", 1) == 0x5915dff8ab3f6382ULL);
}

/* Flipping any one of the 128 key bits changes the hash of a fixed message,
 * and the 128 results are all different. */
static void test_every_key_bit_counts(void **state) {
    (void)state;
    static const char msg[] = "order-0001";
    uint64_t base_key[2] = {0x0123456789abcdefULL, 0xfedcba9876543210ULL};
    uint64_t base = siphash13(base_key, msg, sizeof(msg) - 1);
    uint64_t seen[128];
    for (int bit = 0; bit < 128; bit++) {
        uint64_t k[2] = {base_key[0], base_key[1]};
        k[bit / 64] ^= (uint64_t)1 << (bit % 64);
        seen[bit] = siphash13(k, msg, sizeof(msg) - 1);
        assert_true(seen[bit] != base);
        for (int j = 0; j < bit; j++) assert_true(seen[j] != seen[bit]);
    }
    /* and the same key gives the same hash */
    assert_true(siphash13(base_key, msg, sizeof(msg) - 1) == base);
}

/* Bytes after a NUL count, the length counts (trailing NULs are not
 * padding), and every byte position counts. */
static void test_bytes_and_length_count(void **state) {
    (void)state;
    static const uint64_t key[2] = {42, 7};
    assert_true(siphash13(key, "a\0b", 3) != siphash13(key, "a\0c", 3));
    assert_true(siphash13(key, "ab", 2) != siphash13(key, "ab\0", 3));
    assert_true(siphash13(key, "", 0) != siphash13(key, "\0", 1));
    unsigned char zeros[16] = {0};
    for (size_t n = 0; n < sizeof(zeros); n++)
        assert_true(siphash13(key, zeros, n) != siphash13(key, zeros, n + 1));
    unsigned char buf[40];
    memset(buf, 'x', sizeof(buf));
    uint64_t base = siphash13(key, buf, sizeof(buf));
    for (size_t i = 0; i < sizeof(buf); i++) {
        buf[i] ^= 1;
        assert_true(siphash13(key, buf, sizeof(buf)) != base);
        buf[i] ^= 1;
    }
}

/* Loads are byte by byte: any alignment gives the same hash. */
static void test_alignment_does_not_matter(void **state) {
    (void)state;
    static const uint64_t key[2] = {1, 2};
    static const char text[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    unsigned char buf[64];
    uint64_t want = siphash13(key, text, sizeof(text) - 1);
    for (size_t off = 0; off < 8; off++) {
        memcpy(buf + off, text, sizeof(text) - 1);
        assert_true(siphash13(key, buf + off, sizeof(text) - 1) == want);
    }
}

/* Two draws from the kernel differ (a collision is a 2^-128 event) and give
 * different hashes of the same message. */
static void test_random_keys_differ(void **state) {
    (void)state;
    uint64_t a[2] = {0, 0}, b[2] = {0, 0};
    siphash_key_random(a);
    siphash_key_random(b);
    assert_false(a[0] == 0 && a[1] == 0);
    assert_false(a[0] == b[0] && a[1] == b[1]);
    assert_true(siphash13(a, "k", 1) != siphash13(b, "k", 1));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zero_key_vectors),
        cmocka_unit_test(test_keyed_vectors),
        cmocka_unit_test(test_every_key_bit_counts),
        cmocka_unit_test(test_bytes_and_length_count),
        cmocka_unit_test(test_alignment_does_not_matter),
        cmocka_unit_test(test_random_keys_differ),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
