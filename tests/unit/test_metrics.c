/* Unit tests: the metrics registry and its Prometheus text format 0.0.4.
 * Exact renderings of small registries, escaping, histogram buckets, gauge
 * values, series lifecycle, concurrent updates while rendering, and the
 * process series. Every rendering is also checked line by line against a
 * small grammar of the text format (expo_check() below), which is itself
 * tested against malformed input. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include <cmocka.h>

#include "common/metrics.h"

/* ---- a line grammar of the text format ----------------------------------- */

#define EXPO_MAX_SEEN 4096

/* The state of one check: the family announced by the last # TYPE, and
 * every sample key (name and labels as written) seen so far. */
typedef struct expo {
    char family[256];
    char type[32];
    char *seen[EXPO_MAX_SEEN];
    size_t nseen;
    char *err;
    size_t errsize;
} expo;

static int expo_fail(expo *x, const char *line, size_t len, const char *what) {
    snprintf(x->err, x->errsize, "%s in line \"%.*s\"", what, (int)len, line);
    return -1;
}

static int is_name_start(int c) { return isalpha(c) || c == '_' || c == ':'; }

static int is_name_char(int c) { return isalnum(c) || c == '_' || c == ':'; }

/* Length of the metric name at p (0 when there is none). Label names use
 * the same rule without ':'; colon_ok says which. */
static size_t name_len(const char *p, const char *end, int colon_ok) {
    size_t n = 0;
    if (p >= end || !is_name_start((unsigned char)*p) || (!colon_ok && *p == ':')) return 0;
    while (p + n < end && is_name_char((unsigned char)p[n]) && (colon_ok || p[n] != ':')) n++;
    return n;
}

/* A sample value: a float strtod reads entirely, or the format's +Inf,
 * -Inf, NaN. Hex floats and spaces are not numbers here. */
static int value_ok(const char *p, size_t len) {
    char buf[64];
    if (len == 0 || len >= sizeof(buf)) return 0;
    memcpy(buf, p, len);
    buf[len] = '\0';
    if (!strcmp(buf, "+Inf") || !strcmp(buf, "-Inf") || !strcmp(buf, "NaN")) return 1;
    for (size_t i = 0; i < len; i++)
        if (!isdigit((unsigned char)buf[i]) && !strchr(".eE+-", buf[i])) return 0;
    char *endp;
    strtod(buf, &endp);
    return *endp == '\0' && endp != buf;
}

/* Escaped text (HELP text, or a label value when in_label): a backslash
 * must be followed by '\\' or 'n' (or '"' in a label value); a label value
 * ends at an unescaped '"'. Returns the length consumed, or -1. */
static long escaped_len(const char *p, const char *end, int in_label) {
    const char *q = p;
    while (q < end) {
        if (*q == '"' && in_label) return q - p;
        if (*q == '\\') {
            if (q + 1 >= end) return -1;
            if (q[1] != '\\' && q[1] != 'n' && !(in_label && q[1] == '"')) return -1;
            q += 2;
            continue;
        }
        q++;
    }
    return in_label ? -1 : q - p;
}

static int expo_comment(expo *x, const char *line, const char *end) {
    size_t len = (size_t)(end - line);
    int help = strncmp(line, "# HELP ", 7) == 0;
    if (!help && strncmp(line, "# TYPE ", 7) != 0)
        return expo_fail(x, line, len, "a comment that is neither # HELP nor # TYPE");
    const char *p = line + 7;
    size_t n = name_len(p, end, 1);
    if (!n) return expo_fail(x, line, len, "no metric name");
    if (help) {
        if (p + n == end) return 0;
        if (p[n] != ' ') return expo_fail(x, line, len, "no space after the name");
        if (escaped_len(p + n + 1, end, 0) < 0)
            return expo_fail(x, line, len, "a bad escape in the help text");
        return 0;
    }
    if (p[n] != ' ') return expo_fail(x, line, len, "no type after the name");
    const char *t = p + n + 1;
    size_t tlen = (size_t)(end - t);
    static const char *const types[] = {"counter", "gauge", "histogram", "summary", "untyped"};
    int known = 0;
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (strlen(types[i]) == tlen && !strncmp(types[i], t, tlen)) known = 1;
    if (!known) return expo_fail(x, line, len, "an unknown type");
    if (n >= sizeof(x->family) || tlen >= sizeof(x->type))
        return expo_fail(x, line, len, "a name too long for the checker");
    for (size_t i = 0; i < x->nseen; i++) {
        size_t k = strcspn(x->seen[i], "{");
        if (k == n && !strncmp(x->seen[i], p, n))
            return expo_fail(x, line, len, "a # TYPE after samples of the same name");
    }
    memcpy(x->family, p, n);
    x->family[n] = '\0';
    memcpy(x->type, t, tlen);
    x->type[tlen] = '\0';
    return 0;
}

/* Whether sample name (n bytes at p) belongs to the family of the last
 * # TYPE: the same name, or for a histogram its _bucket, _sum or _count. */
static int belongs(const expo *x, const char *p, size_t n) {
    size_t fl = strlen(x->family);
    if (n == fl && !strncmp(p, x->family, fl)) return strcmp(x->type, "histogram") != 0;
    if (strcmp(x->type, "histogram") != 0 || n <= fl || strncmp(p, x->family, fl) != 0) return 0;
    const char *suffix = p + fl;
    size_t sl = n - fl;
    return (sl == 7 && !strncmp(suffix, "_bucket", 7)) ||
           (sl == 4 && !strncmp(suffix, "_sum", 4)) || (sl == 6 && !strncmp(suffix, "_count", 6));
}

static int expo_sample(expo *x, const char *line, const char *end) {
    size_t len = (size_t)(end - line);
    size_t n = name_len(line, end, 1);
    if (!n) return expo_fail(x, line, len, "no metric name");
    if (x->family[0] && !belongs(x, line, n))
        return expo_fail(x, line, len, "a sample outside the family of the last # TYPE");
    int bucket = n > 7 && !strncmp(line + n - 7, "_bucket", 7) && !strcmp(x->type, "histogram");
    int has_le = 0;
    const char *p = line + n;
    if (p < end && *p == '{') {
        char names[8][64];
        size_t nnames = 0;
        p++;
        while (p < end && *p != '}') {
            size_t ln = name_len(p, end, 0);
            if (!ln) return expo_fail(x, line, len, "no label name");
            if (ln >= sizeof(names[0]) || nnames == 8)
                return expo_fail(x, line, len, "too many or too long labels for the checker");
            for (size_t i = 0; i < nnames; i++)
                if (strlen(names[i]) == ln && !strncmp(names[i], p, ln))
                    return expo_fail(x, line, len, "a label given twice");
            memcpy(names[nnames], p, ln);
            names[nnames++][ln] = '\0';
            int is_le = ln == 2 && !strncmp(p, "le", 2);
            has_le |= is_le;
            p += ln;
            if (p + 1 >= end || p[0] != '=' || p[1] != '"')
                return expo_fail(x, line, len, "no =\" after a label name");
            p += 2;
            long vl = escaped_len(p, end, 1);
            if (vl < 0) return expo_fail(x, line, len, "a bad label value");
            if (is_le && !value_ok(p, (size_t)vl))
                return expo_fail(x, line, len, "an le that is not a number");
            p += vl + 1;
            if (p < end && *p == ',')
                p++;
            else if (p >= end || *p != '}')
                return expo_fail(x, line, len, "no , or } after a label");
        }
        if (p >= end) return expo_fail(x, line, len, "no closing }");
        p++;
    }
    if (bucket && !has_le) return expo_fail(x, line, len, "a histogram bucket without le");
    size_t keylen = (size_t)(p - line);
    if (p >= end || *p != ' ') return expo_fail(x, line, len, "no space before the value");
    p++;
    const char *sp = memchr(p, ' ', (size_t)(end - p));
    const char *vend = sp ? sp : end;
    if (!value_ok(p, (size_t)(vend - p))) return expo_fail(x, line, len, "a bad value");
    if (sp) { /* a timestamp: an integer */
        const char *ts = sp + 1;
        if (ts < end && *ts == '-') ts++;
        if (ts == end) return expo_fail(x, line, len, "a bad timestamp");
        for (; ts < end; ts++)
            if (!isdigit((unsigned char)*ts)) return expo_fail(x, line, len, "a bad timestamp");
    }
    for (size_t i = 0; i < x->nseen; i++)
        if (strlen(x->seen[i]) == keylen && !strncmp(x->seen[i], line, keylen))
            return expo_fail(x, line, len, "a series given twice");
    if (x->nseen == EXPO_MAX_SEEN)
        return expo_fail(x, line, len, "too many series for the checker");
    if (!(x->seen[x->nseen] = strndup(line, keylen))) return expo_fail(x, line, len, "no memory");
    x->nseen++;
    return 0;
}

/* Checks a whole exposition: every line a # HELP, a # TYPE or a sample,
 * every line ended by '\n', no empty line, samples inside the family their
 * # TYPE announced, no series twice. Returns 0, or -1 with the first
 * problem in err. */
static int expo_check(const char *text, size_t len, char *err, size_t errsize) {
    expo x = {.err = err, .errsize = errsize};
    int rc = 0;
    err[0] = '\0';
    if (len == 0 || text[len - 1] != '\n') {
        snprintf(err, errsize, "the text does not end with a newline");
        rc = -1;
    }
    for (const char *line = text; rc == 0 && line < text + len;) {
        const char *end = memchr(line, '\n', (size_t)(text + len - line));
        if (!end) break; /* reported above */
        if (end == line)
            rc = expo_fail(&x, line, 0, "an empty line");
        else if (memchr(line, '\0', (size_t)(end - line)))
            rc = expo_fail(&x, line, 0, "a NUL");
        else if (*line == '#')
            rc = expo_comment(&x, line, end);
        else
            rc = expo_sample(&x, line, end);
        line = end + 1;
    }
    for (size_t i = 0; i < x.nseen; i++) free(x.seen[i]);
    return rc;
}

static void assert_expo_ok(const char *text, size_t len) {
    char err[512];
    if (expo_check(text, len, err, sizeof(err)) != 0) fail_msg("malformed exposition: %s", err);
}

static int expo_ok_str(const char *text) {
    char err[512];
    return expo_check(text, strlen(text), err, sizeof(err)) == 0;
}

/* ---- helpers -------------------------------------------------------------- */

/* Renders m, checks the result against the grammar and that *len agrees
 * with strlen. The caller frees the text. */
static char *render(metrics *m) {
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(metrics_render(m, &out, &len), METRICS_OK);
    assert_non_null(out);
    assert_int_equal(strlen(out), len);
    assert_expo_ok(out, len);
    return out;
}

/* The value text of the sample whose name and labels are exactly key
 * ("a_total{x=\"1\"}"), copied into buf; NULL when there is none. */
static const char *sample_text(const char *text, const char *key, char *buf, size_t size) {
    size_t kl = strlen(key);
    for (const char *line = text; *line;) {
        const char *end = strchr(line, '\n');
        if (!end) end = line + strlen(line);
        if ((size_t)(end - line) > kl && !strncmp(line, key, kl) && line[kl] == ' ') {
            size_t vl = (size_t)(end - line) - kl - 1;
            if (vl >= size) vl = size - 1;
            memcpy(buf, line + kl + 1, vl);
            buf[vl] = '\0';
            return buf;
        }
        line = *end ? end + 1 : end;
    }
    return NULL;
}

static void assert_sample(const char *text, const char *key, const char *want) {
    char buf[128];
    const char *got = sample_text(text, key, buf, sizeof(buf));
    if (!got) fail_msg("no sample %s in:\n%s", key, text);
    assert_string_equal(got, want);
}

/* The sample's value, parsed with strtod. */
static double sample_value(const char *text, const char *key) {
    char buf[128];
    const char *got = sample_text(text, key, buf, sizeof(buf));
    if (!got) fail_msg("no sample %s in:\n%s", key, text);
    char *end;
    double v = strtod(got, &end);
    assert_true(*end == '\0');
    return v;
}

/* Number of lines starting with prefix. */
static size_t count_lines(const char *text, const char *prefix) {
    size_t n = 0, pl = strlen(prefix);
    for (const char *line = text; *line;) {
        if (!strncmp(line, prefix, pl)) n++;
        const char *end = strchr(line, '\n');
        if (!end) break;
        line = end + 1;
    }
    return n;
}

/* The registry's own families: everything before the process series. */
static char *families_part(const char *text) {
    const char *p = strstr(text, "# HELP process_");
    assert_non_null(p);
    return strndup(text, (size_t)(p - text));
}

/* How a person writes v: an integer without decimals, else the shortest
 * %.*g spelling that reads back as v exactly. */
static void shortest(double v, char *buf, size_t size) {
    if (v == floor(v) && fabs(v) < 1e15) {
        snprintf(buf, size, "%.0f", v);
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, size, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) return;
    }
}

/* ---- the grammar itself ---------------------------------------------------- */

static void test_checker_rejects_malformed(void **state) {
    (void)state;
    /* untyped samples first: a sample belongs to the family of the last # TYPE */
    assert_true(expo_ok_str("b 1.5e-3\nc -Inf\nd NaN 1700\n"
                            "# HELP a_total some \\\\ help\\n here\n# TYPE a_total counter\n"
                            "a_total{x=\"q\\\"\\\\\\n\",y=\"\"} 12\n"
                            "# HELP h h\n# TYPE h histogram\nh_bucket{le=\"0.5\"} 1\n"
                            "h_bucket{le=\"+Inf\"} 1\nh_sum 0.25\nh_count 1\n"));
    assert_false(expo_ok_str(""));
    assert_false(expo_ok_str("a 1"));                    /* no final newline */
    assert_false(expo_ok_str("a 1\n\nb 2\n"));           /* empty line */
    assert_false(expo_ok_str("1a 1\n"));                 /* name */
    assert_false(expo_ok_str("a-b 1\n"));                /* name */
    assert_false(expo_ok_str("a\n"));                    /* no value */
    assert_false(expo_ok_str("a  1\n"));                 /* two spaces */
    assert_false(expo_ok_str("a 1x\n"));                 /* value */
    assert_false(expo_ok_str("a inf\n"));                /* spelled +Inf */
    assert_false(expo_ok_str("a 0x10\n"));               /* hex */
    assert_false(expo_ok_str("a 1 2.5\n"));              /* timestamp */
    assert_false(expo_ok_str("a{x=\"1} 1\n"));           /* unterminated value */
    assert_false(expo_ok_str("a{x=1} 1\n"));             /* unquoted value */
    assert_false(expo_ok_str("a{x=\"\\t\"} 1\n"));       /* bad escape */
    assert_false(expo_ok_str("a{x=\"1\",x=\"2\"} 1\n")); /* label twice */
    assert_false(expo_ok_str("a{x=\"1\"y=\"2\"} 1\n"));  /* no comma */
    assert_false(expo_ok_str("a{1x=\"1\"} 1\n"));        /* label name */
    assert_false(expo_ok_str("a{x=\"1\"\n"));            /* no brace */
    assert_false(expo_ok_str("a 1\na 2\n"));             /* series twice */
    assert_false(expo_ok_str("# HELP a bad \\t escape\n"));
    assert_false(expo_ok_str("# TYPE a countr\n"));
    assert_false(expo_ok_str("# TYPE a\n"));
    assert_false(expo_ok_str("# a comment\n"));
    assert_false(expo_ok_str("# TYPE a counter\nb 1\n"));          /* outside its family */
    assert_false(expo_ok_str("# TYPE h histogram\nh_bucket 1\n")); /* no le */
    assert_false(expo_ok_str("# TYPE h histogram\nh_bucket{le=\"x\"} 1\n")); /* le */
    assert_false(expo_ok_str("a 1\n# TYPE a counter\n")); /* TYPE after samples */
}

/* ---- the registry ---------------------------------------------------------- */

/* One family of each type, exactly as rendered: HELP and TYPE lines, the
 * prefix, labels in the order registered, families in registration order. */
static void test_render_exact(void **state) {
    (void)state;
    metrics *m = metrics_new("oft");
    assert_non_null(m);
    metric_family *orders = metrics_counter(m, "orders_total", "orders seen", "status,route");
    metric_family *depth = metrics_gauge(m, "queue_depth", "orders waiting", NULL);
    const double bounds[] = {0.25, 1, 60};
    metric_family *lat =
        metrics_histogram(m, "latency_seconds", "handler latency", "route", bounds, 3);
    assert_non_null(orders);
    assert_non_null(depth);
    assert_non_null(lat);
    metric_add(metric_series(orders, "FULFILLED", "/a"), 3);
    metric_add(metric_series(orders, "REJECTED", "/b"), 1);
    metric_set(metric_series(depth), 42);
    metric_observe(metric_series(lat, "/a"), 0.5);
    metric_observe(metric_series(lat, "/a"), 0.125);

    char *text = render(m);
    char *own = families_part(text);
    assert_string_equal(own, "# HELP oft_orders_total orders seen\n"
                             "# TYPE oft_orders_total counter\n"
                             "oft_orders_total{status=\"FULFILLED\",route=\"/a\"} 3\n"
                             "oft_orders_total{status=\"REJECTED\",route=\"/b\"} 1\n"
                             "# HELP oft_queue_depth orders waiting\n"
                             "# TYPE oft_queue_depth gauge\n"
                             "oft_queue_depth 42\n"
                             "# HELP oft_latency_seconds handler latency\n"
                             "# TYPE oft_latency_seconds histogram\n"
                             "oft_latency_seconds_bucket{route=\"/a\",le=\"0.25\"} 1\n"
                             "oft_latency_seconds_bucket{route=\"/a\",le=\"1\"} 2\n"
                             "oft_latency_seconds_bucket{route=\"/a\",le=\"60\"} 2\n"
                             "oft_latency_seconds_bucket{route=\"/a\",le=\"+Inf\"} 2\n"
                             "oft_latency_seconds_sum{route=\"/a\"} 0.625\n"
                             "oft_latency_seconds_count{route=\"/a\"} 2\n");
    free(own);
    free(text);
    metrics_free(m);
}

/* An unlabelled family is there at 0 from the start; a labelled one has no
 * series until asked, then one per distinct label set. */
static void test_series_lifecycle(void **state) {
    (void)state;
    metrics *m = metrics_new("oft");
    metric_family *plain = metrics_counter(m, "restarts_total", "restarts", NULL);
    metric_family *plain_g = metrics_gauge(m, "lag", "lag", "");
    metric_family *by = metrics_counter(m, "by_total", "by status", "status,code");
    metric_family *h = metrics_histogram(m, "h_seconds", "h", "route", metrics_seconds_buckets,
                                         metrics_seconds_nbuckets);
    char *text = render(m);
    assert_sample(text, "oft_restarts_total", "0");
    assert_sample(text, "oft_lag", "0");
    assert_int_equal(count_lines(text, "oft_by_total"), 0);
    assert_int_equal(count_lines(text, "oft_h_seconds_"), 0);
    assert_int_equal(count_lines(text, "# TYPE oft_by_total counter\n"), 1);
    assert_int_equal(count_lines(text, "# TYPE oft_h_seconds histogram\n"), 1);
    free(text);

    /* the unlabelled family's series is always the same one */
    assert_ptr_equal(metric_series(plain), metric_series(plain));

    metric *a = metric_series(by, "FULFILLED", "200");
    metric *b = metric_series(by, "FULFILLED", "500");
    metric *c = metric_series(by, "REJECTED", "200");
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    assert_ptr_not_equal(a, b);
    assert_ptr_not_equal(a, c);
    assert_ptr_not_equal(b, c);
    assert_ptr_equal(metric_series(by, "FULFILLED", "200"), a);
    assert_ptr_equal(metric_series(by, "REJECTED", "200"), c);
    /* a NULL label value is the empty one */
    metric *e = metric_series(by, NULL, "");
    assert_ptr_equal(metric_series(by, "", NULL), e);
    metric_add(a, 2);
    metric_add(metric_series(by, "FULFILLED", "200"), 5);
    metric *r = metric_series(h, "/a");
    assert_ptr_equal(metric_series(h, "/a"), r);
    (void)plain_g;

    text = render(m);
    assert_int_equal(count_lines(text, "oft_by_total{"), 4);
    assert_sample(text, "oft_by_total{status=\"FULFILLED\",code=\"200\"}", "7");
    assert_sample(text, "oft_by_total{status=\"FULFILLED\",code=\"500\"}", "0");
    assert_sample(text, "oft_by_total{status=\"REJECTED\",code=\"200\"}", "0");
    assert_sample(text, "oft_by_total{status=\"\",code=\"\"}", "0");
    assert_int_equal(count_lines(text, "oft_h_seconds_bucket{route=\"/a\","),
                     metrics_seconds_nbuckets + 1);
    assert_sample(text, "oft_h_seconds_count{route=\"/a\"}", "0");
    assert_sample(text, "oft_h_seconds_sum{route=\"/a\"}", "0");
    free(text);
    metrics_free(m);
}

static void test_label_limit(void **state) {
    (void)state;
    metrics *m = metrics_new("oft");
    assert_null(metrics_counter(m, "five_total", "five", "a,b,c,d,e"));
    assert_null(metrics_gauge(m, "five", "five", "a,b,c,d,e"));
    metric_family *four = metrics_counter(m, "four_total", "four", "a,b,c,d");
    assert_non_null(four);
    metric_add(metric_series(four, "1", "2", "3", "4"), 9);
    char *text = render(m);
    assert_sample(text, "oft_four_total{a=\"1\",b=\"2\",c=\"3\",d=\"4\"}", "9");
    assert_null(strstr(text, "five")); /* a refused family is not registered */
    free(text);
    metrics_free(m);
}

/* Label values escape backslash, double quote and newline; help text
 * escapes backslash and newline and leaves double quotes alone. */
static void test_escaping(void **state) {
    (void)state;
    metrics *m = metrics_new("oft");
    metric_family *f = metrics_counter(m, "esc_total", "say \"hi\" to C:\\dir\nand more", "v");
    metric_add(metric_series(f, "a\\b\"c\nd"), 1);
    metric_add(metric_series(f, "plain"), 2);
    metric_add(metric_series(f, "\\\\"), 3);
    char *text = render(m);
    assert_int_equal(count_lines(text, "# HELP oft_esc_total say \"hi\" to C:\\\\dir\\nand more\n"),
                     1);
    assert_sample(text, "oft_esc_total{v=\"a\\\\b\\\"c\\nd\"}", "1");
    assert_sample(text, "oft_esc_total{v=\"plain\"}", "2");
    assert_sample(text, "oft_esc_total{v=\"\\\\\\\\\"}", "3");
    free(text);
    metrics_free(m);
}

/* Buckets are cumulative and le is inclusive; _sum and _count follow every
 * observation. The le labels are spelled as the bounds were written. */
static void test_histogram(void **state) {
    (void)state;
    metrics *m = metrics_new("oft");
    const double bounds[] = {0.005, 1, 60};
    metric_family *f = metrics_histogram(m, "wait_seconds", "wait", NULL, bounds, 3);
    metric *s = metric_series(f);
    const double obs[] = {0.005, 0.0051, 1, 0.0001, 59.9, 60, 61, 1000, 0};
    double sum = 0;
    for (size_t i = 0; i < sizeof(obs) / sizeof(obs[0]); i++) {
        metric_observe(s, obs[i]);
        sum += obs[i];
    }
    /* per bucket: <=0.005: 0.005, 0.0001, 0; <=1: 0.0051, 1; <=60: 59.9, 60; +Inf: 61, 1000 */
    const unsigned long long want[] = {3, 5, 7, 9};
    char *text = render(m);
    size_t b = 0;
    for (const char *line = text; (line = strstr(line, "oft_wait_seconds_bucket{")); b++) {
        assert_true(b < 4);
        const char *le = strstr(line, "{le=\"");
        assert_non_null(le);
        le += 5;
        char *end;
        double bound = b < 3 ? strtod(le, &end) : (strncmp(le, "+Inf", 4) ? 0 : INFINITY);
        if (b < 3)
            assert_true(bound == bounds[b] && *end == '"');
        else
            assert_true(isinf(bound));
        const char *val = strstr(le, "\"} ");
        assert_non_null(val);
        assert_int_equal(strtoull(val + 3, NULL, 10), want[b]);
        line = val;
    }
    assert_int_equal(b, 4);
    assert_sample(text, "oft_wait_seconds_count", "9");
    assert_true(sample_value(text, "oft_wait_seconds_sum") == sum);
    /* the le values as a person (and Prometheus client libraries) write them */
    assert_sample(text, "oft_wait_seconds_bucket{le=\"1\"}", "5");
    assert_sample(text, "oft_wait_seconds_bucket{le=\"60\"}", "7");
    assert_sample(text, "oft_wait_seconds_bucket{le=\"+Inf\"}", "9");
    assert_sample(text, "oft_wait_seconds_bucket{le=\"0.005\"}", "3");
    free(text);
    metrics_free(m);
}

/* The shared latency bounds: each le is the shortest spelling that reads
 * back as the bound ("0.0025", not "0.0025000000000000001"). */
static void test_seconds_buckets_le(void **state) {
    (void)state;
    assert_int_equal(metrics_seconds_nbuckets, 15);
    assert_true(metrics_seconds_buckets[0] == 0.001);
    assert_true(metrics_seconds_buckets[14] == 60);
    for (size_t i = 1; i < metrics_seconds_nbuckets; i++)
        assert_true(metrics_seconds_buckets[i - 1] < metrics_seconds_buckets[i]);
    metrics *m = metrics_new("oft");
    metric_family *f = metrics_histogram(m, "lat_seconds", "lat", NULL, metrics_seconds_buckets,
                                         metrics_seconds_nbuckets);
    metric_observe(metric_series(f), 0.003);
    char *text = render(m);
    for (size_t i = 0; i < metrics_seconds_nbuckets; i++) {
        char le[32], key[96];
        shortest(metrics_seconds_buckets[i], le, sizeof(le));
        snprintf(key, sizeof(key), "oft_lat_seconds_bucket{le=\"%s\"}", le);
        assert_sample(text, key, i < 2 ? "0" : "1");
    }
    free(text);
    metrics_free(m);
}

/* Integers without decimals, fractions that read back exactly, negative
 * values, and the format's infinities and NaN. */
static void test_gauge_values(void **state) {
    (void)state;
    metrics *m = metrics_new("oft");
    metric *g = metric_series(metrics_gauge(m, "g", "g", NULL));
    static const struct {
        double v;
        const char *exact; /* NULL: only the value read back matters */
    } cases[] = {
        {42, "42"},
        {-7, "-7"},
        {0, "0"},
        {1e12, "1000000000000"},
        {-123456789, "-123456789"},
        {0.1, "0.1"},
        {-2.5, "-2.5"},
        {0.1 + 0.2, "0.30000000000000004"},
        {123456789.125, "123456789.125"},
        {1.0 / 3, NULL},
        {-1e-300, NULL},
        {6.02214076e23, NULL},
        {4503599627370497.0, NULL},
        {5e-324, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        metric_set(g, cases[i].v);
        char *text = render(m);
        char buf[128];
        const char *got = sample_text(text, "oft_g", buf, sizeof(buf));
        assert_non_null(got);
        if (cases[i].exact) assert_string_equal(got, cases[i].exact);
        char *end;
        double back = strtod(got, &end);
        assert_true(*end == '\0');
        if (back != cases[i].v) fail_msg("gauge %.17g rendered as %s", cases[i].v, got);
        free(text);
    }
    metric_set(g, INFINITY);
    char *text = render(m);
    assert_sample(text, "oft_g", "+Inf");
    free(text);
    metric_set(g, -INFINITY);
    text = render(m);
    assert_sample(text, "oft_g", "-Inf");
    free(text);
    metric_set(g, NAN);
    text = render(m);
    assert_sample(text, "oft_g", "NaN");
    free(text);
    metrics_free(m);
}

static void test_set_count(void **state) {
    (void)state;
    metrics *m = metrics_new("oft");
    metric *c = metric_series(metrics_counter(m, "kept_total", "kept elsewhere", NULL));
    metric_set_count(c, 100);
    char *text = render(m);
    assert_sample(text, "oft_kept_total", "100");
    free(text);
    metric_set_count(c, 18446744073709551615ULL);
    text = render(m);
    assert_sample(text, "oft_kept_total", "18446744073709551615");
    free(text);
    metric_set_count(c, 250);
    metric_add(c, 5);
    text = render(m);
    assert_sample(text, "oft_kept_total", "255");
    free(text);
    metrics_free(m);
}

/* Clearing drops the series and keeps the family; new series may follow,
 * starting from zero. */
static void test_family_clear(void **state) {
    (void)state;
    metrics *m = metrics_new("oft");
    metric_family *lag = metrics_gauge(m, "partition_lag", "lag by partition", "topic,partition");
    metric_family *after = metrics_counter(m, "after_total", "after", NULL);
    metric_set(metric_series(lag, "orders", "0"), 10);
    metric_set(metric_series(lag, "orders", "1"), 20);
    metric_add(metric_series(after), 1);
    char *text = render(m);
    assert_int_equal(count_lines(text, "oft_partition_lag{"), 2);
    free(text);

    metric_family_clear(lag);
    text = render(m);
    assert_int_equal(count_lines(text, "oft_partition_lag{"), 0);
    assert_int_equal(count_lines(text, "# HELP oft_partition_lag lag by partition\n"), 1);
    assert_int_equal(count_lines(text, "# TYPE oft_partition_lag gauge\n"), 1);
    assert_sample(text, "oft_after_total", "1");
    free(text);

    metric_set(metric_series(lag, "orders", "2"), 5);
    metric *again = metric_series(lag, "orders", "0");
    assert_non_null(again);
    text = render(m);
    assert_int_equal(count_lines(text, "oft_partition_lag{"), 2);
    assert_sample(text, "oft_partition_lag{topic=\"orders\",partition=\"2\"}", "5");
    assert_sample(text, "oft_partition_lag{topic=\"orders\",partition=\"0\"}", "0");
    free(text);

    /* an unlabelled family cleared: gone, and back on request */
    metric_family_clear(after);
    text = render(m);
    assert_int_equal(count_lines(text, "oft_after_total "), 0);
    free(text);
    metric_add(metric_series(after), 3);
    text = render(m);
    assert_sample(text, "oft_after_total", "3");
    free(text);
    metric_family_clear(lag);
    metric_family_clear(lag); /* twice: nothing left to drop */
    metrics_free(m);          /* ASan: nothing leaked */
}

static void test_null_and_wrong_kind_ignored(void **state) {
    (void)state;
    metric_add(NULL, 1);
    metric_set_count(NULL, 1);
    metric_set(NULL, 1.5);
    metric_observe(NULL, 0.5);
    assert_null(metric_series(NULL, "x"));
    metric_family_clear(NULL);
    metrics_free(NULL);

    metrics *m = metrics_new("oft");
    metric *c = metric_series(metrics_counter(m, "c_total", "c", NULL));
    metric_observe(c, 2.0); /* not a histogram: ignored */
    char *text = render(m);
    assert_sample(text, "oft_c_total", "0");
    free(text);
    metrics_free(m);
}

/* ---- concurrency ------------------------------------------------------------ */

#define WRITERS 4
#define PER_WRITER 100000

typedef struct race {
    metric *counter, *hist;
    metrics *m;
    atomic_int writers_left;
    /* the renderer's findings, asserted on the main thread */
    int renders;
    int bad; /* a malformed rendering or a counter going back */
    char why[512];
} race;

static void *writer(void *arg) {
    race *r = arg;
    for (int i = 0; i < PER_WRITER; i++) {
        metric_add(r->counter, 1);
        metric_observe(r->hist, 1.0);
    }
    atomic_fetch_sub(&r->writers_left, 1);
    return NULL;
}

/* Renders until every writer is done, checking each rendering: the
 * grammar, a counter that never goes back, cumulative buckets that never
 * decrease and a count at least the +Inf bucket. (The text format wants
 * the +Inf bucket equal to _count; metrics.c only promises >= while
 * observations run, which is what is checked here.) */
static void *renderer(void *arg) {
    race *r = arg;
    double last_count = 0, last_hcount = 0;
    char buf[128];
    for (;;) {
        int done = atomic_load(&r->writers_left) == 0; /* one more rendering after */
        char *out = NULL;
        size_t len = 0;
        if (metrics_render(r->m, &out, &len) != METRICS_OK) {
            r->bad = 1;
            snprintf(r->why, sizeof(r->why), "metrics_render failed");
            return NULL;
        }
        r->renders++;
        if (expo_check(out, len, r->why, sizeof(r->why)) != 0) r->bad = 1;
        const char *v = sample_text(out, "oft_race_total", buf, sizeof(buf));
        double count = v ? strtod(v, NULL) : -1;
        if (count < last_count) {
            r->bad = 1;
            snprintf(r->why, sizeof(r->why), "counter went from %.0f to %.0f", last_count, count);
        }
        last_count = count;
        double prev = 0;
        static const char *const keys[] = {
            "oft_race_seconds_bucket{le=\"0.5\"}", "oft_race_seconds_bucket{le=\"1\"}",
            "oft_race_seconds_bucket{le=\"2\"}", "oft_race_seconds_bucket{le=\"+Inf\"}"};
        for (size_t i = 0; i < 4; i++) {
            v = sample_text(out, keys[i], buf, sizeof(buf));
            double b = v ? strtod(v, NULL) : -1;
            if (b < prev) {
                r->bad = 1;
                snprintf(r->why, sizeof(r->why), "%s is %.0f, below %.0f", keys[i], b, prev);
            }
            prev = b;
        }
        v = sample_text(out, "oft_race_seconds_count", buf, sizeof(buf));
        double hcount = v ? strtod(v, NULL) : -1;
        if (hcount < prev || hcount < last_hcount) {
            r->bad = 1;
            snprintf(r->why, sizeof(r->why), "count %.0f below +Inf %.0f or last %.0f", hcount,
                     prev, last_hcount);
        }
        last_hcount = hcount;
        free(out);
        if (r->bad || done) return NULL;
    }
}

static void test_concurrent_updates(void **state) {
    (void)state;
    race r = {0};
    r.m = metrics_new("oft");
    const double bounds[] = {0.5, 1, 2};
    r.counter = metric_series(metrics_counter(r.m, "race_total", "race", NULL));
    r.hist = metric_series(metrics_histogram(r.m, "race_seconds", "race", NULL, bounds, 3));
    atomic_init(&r.writers_left, WRITERS);
    pthread_t w[WRITERS], rd;
    assert_int_equal(pthread_create(&rd, NULL, renderer, &r), 0);
    for (int i = 0; i < WRITERS; i++) assert_int_equal(pthread_create(&w[i], NULL, writer, &r), 0);
    for (int i = 0; i < WRITERS; i++) pthread_join(w[i], NULL);
    pthread_join(rd, NULL);
    if (r.bad) fail_msg("during the race: %s", r.why);
    assert_true(r.renders >= 1);

    char *text = render(r.m);
    char want[32];
    snprintf(want, sizeof(want), "%d", WRITERS * PER_WRITER);
    assert_sample(text, "oft_race_total", want);
    assert_sample(text, "oft_race_seconds_count", want);
    assert_sample(text, "oft_race_seconds_sum", want);
    assert_sample(text, "oft_race_seconds_bucket{le=\"0.5\"}", "0");
    assert_sample(text, "oft_race_seconds_bucket{le=\"1\"}", want);
    assert_sample(text, "oft_race_seconds_bucket{le=\"2\"}", want);
    assert_sample(text, "oft_race_seconds_bucket{le=\"+Inf\"}", want);
    free(text);
    metrics_free(r.m);
}

/* ---- the process series ----------------------------------------------------- */

static void test_process_series(void **state) {
    (void)state;
    time_t before = time(NULL) + 1; /* metrics_new() is not earlier than this, rounded down */
    metrics *m = metrics_new("oft");
    char *text = render(m);
    assert_int_equal(count_lines(text, "# TYPE process_resident_memory_bytes gauge\n"), 1);
    assert_int_equal(count_lines(text, "# TYPE process_open_fds gauge\n"), 1);
    assert_int_equal(count_lines(text, "# TYPE process_cpu_seconds_total counter\n"), 1);
    assert_int_equal(count_lines(text, "# TYPE process_start_time_seconds gauge\n"), 1);
    assert_true(sample_value(text, "process_resident_memory_bytes") > 0);
    assert_true(sample_value(text, "process_open_fds") >= 3); /* stdin, stdout, stderr */
    assert_true(sample_value(text, "process_cpu_seconds_total") >= 0);
    double start = sample_value(text, "process_start_time_seconds");
    assert_true(start > 1.6e9 && start <= (double)before);
    free(text);

    /* process_open_fds follows the descriptors the process holds */
    text = render(m);
    double fds = sample_value(text, "process_open_fds");
    free(text);
    FILE *extra[3];
    for (int i = 0; i < 3; i++) assert_non_null(extra[i] = tmpfile());
    text = render(m);
    assert_true(sample_value(text, "process_open_fds") == fds + 3);
    free(text);
    for (int i = 0; i < 3; i++) fclose(extra[i]);
    metrics_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_checker_rejects_malformed),
        cmocka_unit_test(test_render_exact),
        cmocka_unit_test(test_series_lifecycle),
        cmocka_unit_test(test_label_limit),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_histogram),
        cmocka_unit_test(test_seconds_buckets_le),
        cmocka_unit_test(test_gauge_values),
        cmocka_unit_test(test_set_count),
        cmocka_unit_test(test_family_clear),
        cmocka_unit_test(test_null_and_wrong_kind_ignored),
        cmocka_unit_test(test_concurrent_updates),
        cmocka_unit_test(test_process_series),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
