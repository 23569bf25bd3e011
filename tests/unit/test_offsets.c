/* Unit tests: the offset tracker, its commit metadata, and the retry backoff
 * schedule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "consumer/backoff.h"
#include "consumer/offsets.h"

static void test_empty_has_nothing_to_commit(void **state) {
    (void)state;
    offtrack t;
    offtrack_init(&t);
    assert_int_equal(offtrack_committable(&t), -1);
    assert_int_equal(offtrack_pending(&t), 0);
    offtrack_free(&t);
}

static void test_in_order_completion(void **state) {
    (void)state;
    offtrack t;
    offtrack_init(&t);
    for (int64_t o = 10; o < 15; o++) assert_int_equal(offtrack_add(&t, o), OFFTRACK_OK);
    assert_int_equal(offtrack_committable(&t), 10);
    assert_int_equal(offtrack_done(&t, 10), OFFTRACK_OK);
    assert_int_equal(offtrack_committable(&t), 11);
    for (int64_t o = 11; o < 15; o++) assert_int_equal(offtrack_done(&t, o), OFFTRACK_OK);
    assert_int_equal(offtrack_committable(&t), 15);
    assert_int_equal(offtrack_pending(&t), 0);
    offtrack_free(&t);
}

/* The committed offset never passes a record that is not done. */
static void test_out_of_order_completion_holds_the_gap(void **state) {
    (void)state;
    offtrack t;
    offtrack_init(&t);
    for (int64_t o = 0; o < 5; o++) offtrack_add(&t, o);
    assert_int_equal(offtrack_done(&t, 3), OFFTRACK_OK);
    assert_int_equal(offtrack_done(&t, 1), OFFTRACK_OK);
    assert_int_equal(offtrack_committable(&t), 0);
    assert_int_equal(offtrack_pending(&t), 3);
    assert_int_equal(offtrack_done(&t, 0), OFFTRACK_OK);
    assert_int_equal(offtrack_committable(&t), 2); /* 2 is still undone */
    assert_int_equal(offtrack_done(&t, 4), OFFTRACK_OK);
    assert_int_equal(offtrack_committable(&t), 2);
    assert_int_equal(offtrack_done(&t, 2), OFFTRACK_OK);
    assert_int_equal(offtrack_committable(&t), 5);
    offtrack_free(&t);
}

/* Offsets with holes (compaction, transaction markers) are fine. */
static void test_sparse_offsets(void **state) {
    (void)state;
    offtrack t;
    offtrack_init(&t);
    offtrack_add(&t, 100);
    offtrack_add(&t, 105);
    offtrack_add(&t, 230);
    assert_int_equal(offtrack_done(&t, 105), OFFTRACK_OK);
    assert_int_equal(offtrack_committable(&t), 100);
    assert_int_equal(offtrack_done(&t, 100), OFFTRACK_OK);
    assert_int_equal(offtrack_committable(&t), 230);
    assert_int_equal(offtrack_done(&t, 230), OFFTRACK_OK);
    assert_int_equal(offtrack_committable(&t), 231);
    offtrack_free(&t);
}

static void test_rejects_misuse(void **state) {
    (void)state;
    offtrack t;
    offtrack_init(&t);
    assert_int_equal(offtrack_add(&t, -1), OFFTRACK_ERR);
    assert_int_equal(offtrack_add(&t, 5), OFFTRACK_OK);
    assert_int_equal(offtrack_add(&t, 5), OFFTRACK_ERR); /* not increasing */
    assert_int_equal(offtrack_add(&t, 4), OFFTRACK_ERR);
    assert_int_equal(offtrack_done(&t, 6), OFFTRACK_ERR); /* never added */
    assert_int_equal(offtrack_add(&t, 6), OFFTRACK_OK);
    assert_int_equal(offtrack_done(&t, 6), OFFTRACK_OK);
    assert_int_equal(offtrack_done(&t, 6), OFFTRACK_ERR); /* done twice */
    assert_int_equal(offtrack_done(&t, 5), OFFTRACK_OK);
    assert_int_equal(offtrack_done(&t, 5), OFFTRACK_ERR); /* released */
    offtrack_free(&t);
}

/* Many records, completed in a scrambled order, through several ring
 * growths and wrap-arounds: the committable offset is always the smallest
 * undone one. */
static void test_scrambled_completion_through_growth(void **state) {
    (void)state;
    enum { N = 5000 };
    static unsigned char done[N];
    offtrack t;
    offtrack_init(&t);
    int64_t next_add = 0;
    uint64_t x = 12345;
    size_t completed = 0;
    while (completed < N) {
        /* keep up to ~300 in flight, adding in order */
        while (next_add < N && offtrack_pending(&t) < 300)
            assert_int_equal(offtrack_add(&t, next_add++), OFFTRACK_OK);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        int64_t lo = offtrack_committable(&t);
        int64_t pick = lo + (int64_t)(x % (uint64_t)(next_add - lo));
        while (done[pick]) pick = pick + 1 < next_add ? pick + 1 : lo;
        assert_int_equal(offtrack_done(&t, pick), OFFTRACK_OK);
        done[pick] = 1;
        completed++;
        int64_t expect = 0;
        while (expect < N && done[expect]) expect++;
        if (expect > next_add) expect = next_add;
        assert_int_equal(offtrack_committable(&t), expect < next_add ? expect : next_add);
    }
    assert_int_equal(offtrack_committable(&t), N);
    offtrack_free(&t);
}

static uint64_t xorshift(uint64_t *x) {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

/* The span runs from the first undone offset to the last added, gaps
 * included. */
static void test_span(void **state) {
    (void)state;
    offtrack t;
    offtrack_init(&t);
    assert_int_equal(offtrack_span(&t), 0);
    for (int64_t o = 10; o < 15; o++) offtrack_add(&t, o);
    assert_int_equal(offtrack_span(&t), 5);
    assert_int_equal(offtrack_done(&t, 12), OFFTRACK_OK); /* behind 10: still spanned */
    assert_int_equal(offtrack_span(&t), 5);
    assert_int_equal(offtrack_done(&t, 10), OFFTRACK_OK);
    assert_int_equal(offtrack_span(&t), 4);
    for (int64_t o = 11; o < 15; o++)
        if (o != 12) assert_int_equal(offtrack_done(&t, o), OFFTRACK_OK);
    assert_int_equal(offtrack_span(&t), 0); /* all done */
    offtrack_free(&t);

    /* gaps: the first offset is 100, and 101..104, 106..229 are no records */
    offtrack_init(&t);
    offtrack_add(&t, 100);
    offtrack_add(&t, 105);
    offtrack_add(&t, 230);
    assert_int_equal(offtrack_span(&t), 131);
    assert_int_equal(offtrack_done(&t, 100), OFFTRACK_OK);
    assert_int_equal(offtrack_span(&t), 126);
    assert_int_equal(offtrack_done(&t, 105), OFFTRACK_OK);
    assert_int_equal(offtrack_span(&t), 1);
    assert_int_equal(offtrack_done(&t, 230), OFFTRACK_OK);
    assert_int_equal(offtrack_span(&t), 0);
    offtrack_add(&t, 1000); /* a gap in front of the only tracked one */
    assert_int_equal(offtrack_span(&t), 1);
    offtrack_free(&t);
}

/* Encodes t into a buffer of exactly max_len + 1 bytes (so that ASan sees
 * any overrun) and checks the length bound. Returns the string (the caller
 * frees it) and the number recorded. */
static char *encode(const offtrack *t, size_t max_len, size_t *recorded, int *truncated) {
    char *buf = malloc(max_len + 1);
    assert_non_null(buf);
    memset(buf, 'x', max_len + 1);
    *truncated = 7;
    *recorded = offtrack_encode_done(t, buf, max_len + 1, max_len, truncated);
    assert_true(strlen(buf) <= max_len);
    assert_true(*truncated == 0 || *truncated == 1);
    if (*recorded == 0) assert_string_equal(buf, "");
    return buf;
}

/* The format itself, on fixed vectors: bit i is offset committed + 1 + i,
 * least significant bit first; the alphabet is base64url; no padding. */
static void test_encode_fixed_vectors(void **state) {
    (void)state;
    offtrack t;
    offtrack_init(&t);
    for (int64_t o = 0; o < 20; o++) offtrack_add(&t, o);
    offtrack_done(&t, 1);
    offtrack_done(&t, 3);
    offtrack_done(&t, 9);
    size_t n;
    int trunc;
    char *s = encode(&t, OFFDONE_MAX_LEN, &n, &trunc);
    assert_string_equal(s, "ofdone1:BQE"); /* bytes 0x05 0x01 */
    assert_int_equal(n, 3);
    assert_int_equal(trunc, 0);
    free(s);
    offtrack_free(&t);

    offtrack_init(&t);
    for (int64_t o = 50; o < 70; o++) offtrack_add(&t, o);
    for (int64_t o = 51; o <= 66; o++)
        if (o != 53) offtrack_done(&t, o);
    s = encode(&t, OFFDONE_MAX_LEN, &n, &trunc);
    assert_string_equal(s, "ofdone1:-_8"); /* bytes 0xfb 0xff */
    assert_int_equal(n, 15);
    free(s);
    offtrack_free(&t);

    /* three bytes, one whole group: 0x01 0x00 0x80 (the gap byte stays) */
    offtrack_init(&t);
    for (int64_t o = 0; o < 30; o++) offtrack_add(&t, o);
    offtrack_done(&t, 1);
    offtrack_done(&t, 24);
    s = encode(&t, OFFDONE_MAX_LEN, &n, &trunc);
    assert_string_equal(s, "ofdone1:AQCA");
    assert_int_equal(n, 2);
    free(s);
    offtrack_free(&t);
}

/* Nothing done beyond the committable offset writes "". */
static void test_encode_nothing_done(void **state) {
    (void)state;
    offtrack t;
    offtrack_init(&t);
    size_t n;
    int trunc;
    char *s = encode(&t, OFFDONE_MAX_LEN, &n, &trunc); /* never added */
    assert_int_equal(n, 0);
    assert_int_equal(trunc, 0);
    free(s);
    for (int64_t o = 0; o < 10; o++) offtrack_add(&t, o);
    s = encode(&t, OFFDONE_MAX_LEN, &n, &trunc); /* none done */
    assert_int_equal(n, 0);
    free(s);
    offtrack_done(&t, 0);
    offtrack_done(&t, 1);
    s = encode(&t, OFFDONE_MAX_LEN, &n, &trunc); /* done ones all released */
    assert_int_equal(n, 0);
    free(s);
    for (int64_t o = 2; o < 10; o++) offtrack_done(&t, o);
    s = encode(&t, OFFDONE_MAX_LEN, &n, &trunc); /* all done */
    assert_int_equal(n, 0);
    assert_int_equal(trunc, 0);
    free(s);
    offtrack_free(&t);

    offdone d;
    assert_int_equal(offdone_decode(&d, "", 10), OFFTRACK_OK);
    assert_int_equal(offdone_count(&d), 0);
    offdone_free(&d);
}

/* Records with gaps completed in random order, through ring growth and
 * wrap-around: after every few completions the metadata reads back as
 * exactly the done records past the committable offset. */
static void test_round_trip_random(void **state) {
    (void)state;
    enum { RECORDS = 3000, MAXOFF = RECORDS * 8 };
    static unsigned char isrec[MAXOFF], isdone[MAXOFF];
    static int64_t recs[RECORDS];
    for (uint64_t seed = 1; seed <= 4; seed++) {
        uint64_t x = 0x9e3779b97f4a7c15ull * seed;
        memset(isrec, 0, sizeof(isrec));
        memset(isdone, 0, sizeof(isdone));
        int64_t o = (int64_t)(xorshift(&x) % 50);
        for (int r = 0; r < RECORDS; r++) {
            recs[r] = o;
            isrec[o] = 1;
            uint64_t g = xorshift(&x) % 16;
            o += g < 10 ? 1 : g < 15 ? 2 + (int64_t)(g % 3) : 20; /* mostly dense, some gaps */
        }
        offtrack t;
        offtrack_init(&t);
        size_t added = 0, completed = 0, lo = 0, window = 200 + 300 * (size_t)(seed % 2);
        while (completed < RECORDS) {
            while (added < RECORDS && offtrack_pending(&t) < window)
                assert_int_equal(offtrack_add(&t, recs[added++]), OFFTRACK_OK);
            /* complete a random pending record */
            while (isdone[recs[lo]]) lo++;
            size_t pick = lo + (size_t)(xorshift(&x) % (added - lo));
            while (isdone[recs[pick]]) pick = pick + 1 < added ? pick + 1 : lo;
            assert_int_equal(offtrack_done(&t, recs[pick]), OFFTRACK_OK);
            isdone[recs[pick]] = 1;
            completed++;
            if (completed % 7 != 0 && completed != RECORDS) continue;

            int64_t committed = offtrack_committable(&t);
            size_t expect = 0;
            int64_t last = recs[added - 1];
            for (int64_t k = committed + 1; k <= last; k++) expect += isrec[k] && isdone[k];
            assert_int_equal(offtrack_span(&t), offtrack_pending(&t) ? last + 1 - committed : 0);

            size_t n;
            int trunc;
            char *s = encode(&t, OFFDONE_MAX_LEN, &n, &trunc);
            assert_int_equal(trunc, 0);
            assert_int_equal(n, expect);
            offdone d;
            assert_int_equal(offdone_decode(&d, s, committed), OFFTRACK_OK);
            assert_int_equal(offdone_count(&d), expect);
            int64_t maxdone = -1;
            for (int64_t k = committed > 5 ? committed - 5 : 0; k < last + 40; k++) {
                int want = k > committed && k < MAXOFF && isrec[k] && isdone[k];
                if (want) maxdone = k;
                assert_int_equal(offdone_contains(&d, k) != 0, want);
            }
            /* no trailing zero byte */
            if (maxdone >= 0)
                assert_int_equal(d.nbits / 8, (size_t)(maxdone - committed - 1) / 8 + 1);
            else
                assert_int_equal(d.nbits, 0);
            offdone_free(&d);
            free(s);
        }
        assert_int_equal(offtrack_committable(&t), recs[RECORDS - 1] + 1);
        offtrack_free(&t);
    }
}

/* Characters that n bytes take in base64url without padding. */
static size_t b64_chars(size_t n) { return (n * 4 + 2) / 3; }

/* Checks the truncated encoding of t at max_len against the done offsets
 * done[0..ndone) (ascending, all past the committable offset): exactly the
 * first ones that fit are recorded, and the next would not have fit. */
static void check_truncation(const offtrack *t, size_t max_len, const int64_t *done, size_t ndone) {
    size_t n;
    int trunc;
    char *s = encode(t, max_len, &n, &trunc);
    int64_t committed = offtrack_committable(t);
    assert_true(n <= ndone);
    assert_int_equal(trunc, n < ndone);
    if (n < ndone) { /* one more would have needed more than max_len */
        size_t bytes = (size_t)(done[n] - committed - 1) / 8 + 1;
        assert_true(strlen(OFFDONE_PREFIX) + b64_chars(bytes) > max_len);
    }
    offdone d;
    assert_int_equal(offdone_decode(&d, s, committed), OFFTRACK_OK);
    assert_int_equal(offdone_count(&d), n);
    for (size_t k = 0; k < ndone; k++) assert_int_equal(offdone_contains(&d, done[k]), k < n);
    offdone_free(&d);
    free(s);
}

static void test_encode_truncates(void **state) {
    (void)state;
    offtrack t;
    offtrack_init(&t);
    static int64_t done[100];
    for (int64_t o = 0; o < 200; o++) offtrack_add(&t, o);
    for (int64_t o = 1; o < 200; o += 2) {
        offtrack_done(&t, o);
        done[o / 2] = o;
    }
    /* max_len 16: 8 characters after the prefix, 6 bytes, bits 0..47, so
     * the odd offsets 1..47 */
    size_t n;
    int trunc;
    char *s = encode(&t, 16, &n, &trunc);
    assert_int_equal(strlen(s), 16);
    assert_int_equal(trunc, 1);
    assert_int_equal(n, 24);
    offdone d;
    assert_int_equal(offdone_decode(&d, s, 0), OFFTRACK_OK);
    assert_true(offdone_contains(&d, 47));
    assert_false(offdone_contains(&d, 49));
    offdone_free(&d);
    free(s);
    for (size_t max_len = 0; max_len <= 80; max_len++) check_truncation(&t, max_len, done, 100);
    offtrack_free(&t);

    /* the only done offset is beyond a wide gap: nothing fits */
    offtrack_init(&t);
    offtrack_add(&t, 0);
    offtrack_add(&t, 1000);
    offtrack_add(&t, 1001);
    offtrack_done(&t, 1000);
    s = encode(&t, 16, &n, &trunc);
    assert_string_equal(s, "");
    assert_int_equal(n, 0);
    assert_int_equal(trunc, 1);
    free(s);
    s = encode(&t, OFFDONE_MAX_LEN, &n, &trunc);
    assert_int_equal(n, 1);
    assert_int_equal(trunc, 0);
    assert_int_equal(offdone_decode(&d, s, 0), OFFTRACK_OK);
    assert_true(offdone_contains(&d, 1000));
    assert_false(offdone_contains(&d, 1001));
    assert_int_equal(offdone_count(&d), 1);
    offdone_free(&d);
    free(s);
    offtrack_free(&t);
}

/* The engine's bound holds for the worst case: an alternating pattern over
 * 100000 offsets needs far more than OFFDONE_MAX_LEN characters. */
static void test_encode_size_bound(void **state) {
    (void)state;
    enum { N = 100000 };
    offtrack t;
    offtrack_init(&t);
    for (int64_t o = 0; o < N; o++) assert_int_equal(offtrack_add(&t, o), OFFTRACK_OK);
    static int64_t done[N / 2];
    size_t ndone = 0;
    for (int64_t o = 1; o < N; o += 2) {
        assert_int_equal(offtrack_done(&t, o), OFFTRACK_OK);
        done[ndone++] = o;
    }
    size_t n;
    int trunc;
    char *s = encode(&t, OFFDONE_MAX_LEN, &n, &trunc);
    assert_true(strlen(s) <= OFFDONE_MAX_LEN);
    assert_true(strlen(s) + 3 >= OFFDONE_MAX_LEN); /* and uses the room */
    assert_int_equal(trunc, 1);
    assert_true(n > 0 && n < ndone);
    free(s);
    check_truncation(&t, OFFDONE_MAX_LEN, done, ndone);
    offtrack_free(&t);
}

/* Whatever is not our metadata reads as nothing done, without error. */
static void test_decode_malformed(void **state) {
    (void)state;
    static const char *const bad[] = {
        "",
        "ofdone1:",
        "ofdone2:BQE",
        "OFDONE1:BQE",
        "ofdone1BQE",
        "ofdone1:BQE=", /* padding */
        "ofdone1:BQ=E",
        "ofdone1:B+/E", /* standard base64, not url */
        "ofdone1:B+E",
        "ofdone1:/QE",
        "ofdone1:B", /* a lone character carries no byte */
        "ofdone1:BQEAB",
        "ofdone1:BQEAA", /* even when the lone character is zero */
        "ofdone1:BQF",   /* non-zero unused bits */
        "ofdone1:BQE\n",
        "ofdone1:BQ E",
        "ofdone1:\xc3\xa9QE",
        "{\"owner\":\"another-program\",\"v\":3}",
        "BQE",
    };
    offdone d;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&d, 0xa5, sizeof(d));
        assert_int_equal(offdone_decode(&d, bad[i], 0), OFFTRACK_OK);
        assert_int_equal(offdone_count(&d), 0);
        for (int64_t o = -2; o < 40; o++) assert_false(offdone_contains(&d, o));
        offdone_free(&d);
    }
    assert_int_equal(offdone_decode(&d, NULL, 5), OFFTRACK_OK);
    assert_int_equal(offdone_count(&d), 0);
    assert_false(offdone_contains(&d, 6));
    offdone_free(&d);
    /* a commit at no valid offset, or so high that the bits pass INT64_MAX */
    assert_int_equal(offdone_decode(&d, "ofdone1:BQE", -1001), OFFTRACK_OK);
    assert_int_equal(offdone_count(&d), 0);
    assert_false(offdone_contains(&d, 0));
    offdone_free(&d);
    assert_int_equal(offdone_decode(&d, "ofdone1:BQE", INT64_MAX - 5), OFFTRACK_OK);
    assert_int_equal(offdone_count(&d), 0);
    assert_false(offdone_contains(&d, INT64_MAX));
    offdone_free(&d);
    /* and the same string is read when it is well-formed */
    assert_int_equal(offdone_decode(&d, "ofdone1:BQE", 0), OFFTRACK_OK);
    assert_int_equal(offdone_count(&d), 3);
    offdone_free(&d);
}

/* contains() is 0 at and below the committed offset and past the bitmap. */
static void test_contains_outside_range(void **state) {
    (void)state;
    offdone d;
    assert_int_equal(offdone_decode(&d, "ofdone1:BQE", 100), OFFTRACK_OK);
    assert_int_equal(d.base, 100);
    assert_int_equal(offdone_count(&d), 3);
    assert_true(offdone_contains(&d, 101));
    assert_true(offdone_contains(&d, 103));
    assert_true(offdone_contains(&d, 109));
    assert_false(offdone_contains(&d, 100)); /* the committed offset itself */
    assert_false(offdone_contains(&d, 99));
    assert_false(offdone_contains(&d, 0));
    assert_false(offdone_contains(&d, -1));
    assert_false(offdone_contains(&d, INT64_MIN));
    assert_false(offdone_contains(&d, 102));
    assert_false(offdone_contains(&d, 116)); /* last bit of the bitmap, clear */
    assert_false(offdone_contains(&d, 117)); /* past it */
    assert_false(offdone_contains(&d, 1000));
    assert_false(offdone_contains(&d, INT64_MAX));
    offdone_free(&d);
    assert_false(offdone_contains(&d, 101)); /* freed: nothing */
}

static void test_backoff_schedule(void **state) {
    (void)state;
    /* ceiling doubles from base up to cap; the wait is within [ceiling/2, ceiling] */
    assert_int_equal(backoff_delay_ms(100, 10000, 1, 0.0), 50);
    assert_int_equal(backoff_delay_ms(100, 10000, 1, 0.999999), 100);
    assert_int_equal(backoff_delay_ms(100, 10000, 2, 0.0), 100);
    assert_int_equal(backoff_delay_ms(100, 10000, 3, 0.999999), 400);
    assert_int_equal(backoff_delay_ms(100, 10000, 8, 0.0), 5000);
    assert_int_equal(backoff_delay_ms(100, 10000, 30, 0.999999), 10000); /* capped */
    assert_int_equal(backoff_delay_ms(100, 10000, 1000, 0.5) <= 10000, 1);
    for (unsigned a = 1; a < 64; a++)
        for (double r = 0; r < 1.0; r += 0.125) {
            int64_t d = backoff_delay_ms(100, 10000, a, r);
            assert_true(d >= 50 && d <= 10000);
        }
    assert_int_equal(backoff_delay_ms(0, 0, 5, 0.7), 0);
}


/* A worker that took a partition over commits what its previous owner left
 * done beyond its offset, as well as its own work: nothing done is redone by
 * a third owner. Previous owner: committed 100, done 102..5000 except every
 * 7th. This worker consumed 100..250, all done. */
static void test_commit_point_carries_what_was_known(void **state) {
    (void)state;
    offtrack first;
    offtrack_init(&first);
    for (int64_t o = 100; o <= 5000; o++) assert_int_equal(offtrack_add(&first, o), OFFTRACK_OK);
    for (int64_t o = 102; o <= 5000; o++)
        if (o % 7) assert_int_equal(offtrack_done(&first, o), OFFTRACK_OK);
    char md[OFFDONE_MAX_LEN + 1];
    int truncated = 1;
    offtrack_encode_done(&first, md, sizeof(md), OFFDONE_MAX_LEN, &truncated);
    assert_int_equal(truncated, 0);
    offdone known;
    assert_int_equal(offdone_decode(&known, md, 100), OFFTRACK_OK);

    offtrack second;
    offtrack_init(&second);
    for (int64_t o = 100; o <= 250; o++) {
        assert_int_equal(offtrack_add(&second, o), OFFTRACK_OK);
        assert_int_equal(offtrack_done(&second, o), OFFTRACK_OK);
    }
    int64_t offset;
    size_t n = offtrack_commit_point(&second, &known, &offset, md, sizeof(md), OFFDONE_MAX_LEN,
                                     &truncated);
    /* 251 was done by the previous owner; 252 = 7 * 36 was not */
    assert_int_equal(offset, 252);
    offdone after;
    assert_int_equal(offdone_decode(&after, md, offset), OFFTRACK_OK);
    assert_int_equal(offdone_count(&after), n);
    for (int64_t o = 253; o <= 5000; o++)
        assert_int_equal(offdone_contains(&after, o), o % 7 != 0);
    assert_int_equal(offdone_contains(&after, 5001), 0);
    offdone_free(&after);

    offdone_free(&known);
    offtrack_free(&first);
    offtrack_free(&second);
}

/* Every consumed record done, and the previous owner had done the next two:
 * the commit starts after them. */
static void test_commit_point_moves_past_known_done(void **state) {
    (void)state;
    offtrack t;
    offtrack_init(&t);
    offtrack_add(&t, 10);
    offtrack_add(&t, 11);
    offtrack_done(&t, 11);
    offtrack_done(&t, 10);
    /* previous owner: committed 10, done 12, 13 and 15 */
    offtrack prev;
    offtrack_init(&prev);
    for (int64_t o = 10; o <= 15; o++) offtrack_add(&prev, o);
    offtrack_done(&prev, 12);
    offtrack_done(&prev, 13);
    offtrack_done(&prev, 15);
    char md[64];
    offtrack_encode_done(&prev, md, sizeof(md), sizeof(md) - 1, NULL);
    offdone known;
    offdone_decode(&known, md, 10);
    int64_t offset;
    size_t n = offtrack_commit_point(&t, &known, &offset, md, sizeof(md), sizeof(md) - 1, NULL);
    assert_int_equal(offset, 14); /* 12 and 13 were done, 14 was not */
    assert_int_equal(n, 1);       /* 15 */
    offdone after;
    offdone_decode(&after, md, offset);
    assert_true(offdone_contains(&after, 15));
    assert_int_equal(offdone_count(&after), 1);
    offdone_free(&after);
    offdone_free(&known);
    offtrack_free(&prev);
    offtrack_free(&t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_has_nothing_to_commit),
        cmocka_unit_test(test_in_order_completion),
        cmocka_unit_test(test_out_of_order_completion_holds_the_gap),
        cmocka_unit_test(test_sparse_offsets),
        cmocka_unit_test(test_rejects_misuse),
        cmocka_unit_test(test_scrambled_completion_through_growth),
        cmocka_unit_test(test_span),
        cmocka_unit_test(test_encode_fixed_vectors),
        cmocka_unit_test(test_encode_nothing_done),
        cmocka_unit_test(test_round_trip_random),
        cmocka_unit_test(test_encode_truncates),
        cmocka_unit_test(test_encode_size_bound),
        cmocka_unit_test(test_decode_malformed),
        cmocka_unit_test(test_contains_outside_range),
        cmocka_unit_test(test_commit_point_carries_what_was_known),
        cmocka_unit_test(test_commit_point_moves_past_known_done),
        cmocka_unit_test(test_backoff_schedule),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
