#define _GNU_SOURCE /* strcasecmp, strncasecmp, strndup */
#include "gateway/callback.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "common/ids.h"
#include "common/logfmt.h"
#include "common/recent.h"
#include "common/rng.h"
#include "common/timeutil.h"

#define USER_AGENT "orderfleet-gateway/" ORDERFLEET_VERSION

/* ---- URL and allow-list ------------------------------------------------- */

static int bad_url(char *errstr, size_t errsize, const char *why) {
    snprintf(errstr, errsize, "%s", why);
    return CALLBACK_BAD_URL;
}

/* A port of 1 to 5 digits, 1..65535, in s[0..len). Returns it, or -1. */
static int parse_port(const char *s, size_t len) {
    if (len == 0 || len > 5) return -1;
    int port = 0;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)s[i])) return -1;
        port = port * 10 + (s[i] - '0');
    }
    return port >= 1 && port <= 65535 ? port : -1;
}

static int host_char(char c) {
    return isalnum((unsigned char)c) || c == '-' || c == '.' || c == '_';
}

/* An IPv6 literal of s[0..len) (no brackets, no zone) into addr. */
static int parse_ipv6(const char *s, size_t len, unsigned char addr[16]) {
    char buf[64];
    if (len == 0 || len >= sizeof(buf)) return 0;
    memcpy(buf, s, len);
    buf[len] = '\0';
    return inet_pton(AF_INET6, buf, addr) == 1;
}

int callback_url_parse(const char *url, callback_url *u, char *errstr, size_t errsize) {
    memset(u, 0, sizeof(*u));
    size_t len = strlen(url);
    if (len == 0) return bad_url(errstr, errsize, "is empty");
    if (len > CALLBACK_URL_MAX) {
        snprintf(errstr, errsize, "is %zu characters long, more than the %d allowed", len,
                 CALLBACK_URL_MAX);
        return CALLBACK_BAD_URL;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)url[i];
        if (c <= 0x20 || c >= 0x7f) {
            snprintf(errstr, errsize,
                     "has a space, control character or non-ASCII byte at position %zu "
                     "(percent-encode it)",
                     i + 1);
            return CALLBACK_BAD_URL;
        }
        if (c == '#') return bad_url(errstr, errsize, "has a fragment (#...): not allowed");
        if (c == '\\') return bad_url(errstr, errsize, "has a backslash: not allowed");
    }
    const char *p;
    if (strncasecmp(url, "https://", 8) == 0) {
        u->https = 1;
        p = url + 8;
    } else if (strncasecmp(url, "http://", 7) == 0) {
        p = url + 7;
    } else {
        return bad_url(errstr, errsize, "must be an absolute http:// or https:// URL");
    }
    size_t alen = strcspn(p, "/?");
    if (memchr(p, '@', alen))
        return bad_url(errstr, errsize, "must not carry user information (user@host)");
    if (alen == 0) return bad_url(errstr, errsize, "has no host");
    const char *host = p, *port = NULL;
    size_t hlen;
    if (*p == '[') {
        const char *close = memchr(p, ']', alen);
        if (!close) return bad_url(errstr, errsize, "has an IPv6 address without its ]");
        host = p + 1;
        hlen = (size_t)(close - host);
        unsigned char addr[16];
        if (!parse_ipv6(host, hlen, addr))
            return bad_url(errstr, errsize, "has an invalid IPv6 address");
        u->ipv6 = 1;
        const char *after = close + 1;
        if (after < p + alen) {
            if (*after != ':')
                return bad_url(errstr, errsize, "has something after its IPv6 address");
            port = after + 1;
        }
    } else {
        const char *colon = memchr(p, ':', alen);
        hlen = colon ? (size_t)(colon - p) : alen;
        if (colon) port = colon + 1;
        if (hlen == 0) return bad_url(errstr, errsize, "has no host");
        for (size_t i = 0; i < hlen; i++)
            if (!host_char(host[i])) {
                snprintf(errstr, errsize, "has a host with a character not allowed: '%c'",
                         host[i]);
                return CALLBACK_BAD_URL;
            }
    }
    if (hlen > CALLBACK_HOST_MAX)
        return bad_url(errstr, errsize, "has a host longer than 253 characters");
    for (size_t i = 0; i < hlen; i++) u->host[i] = (char)tolower((unsigned char)host[i]);
    u->host[hlen] = '\0';
    if (port) {
        u->port = parse_port(port, (size_t)(p + alen - port));
        if (u->port < 0) return bad_url(errstr, errsize, "has a port that is not 1 to 65535");
    } else {
        u->port = u->https ? 443 : 80;
    }
    return CALLBACK_OK;
}

/* One allow-list pattern, parsed. */
typedef struct pattern {
    int any;      /* "*" */
    int wildcard; /* "*.domain": host holds ".domain" */
    int ipv6;
    unsigned char addr[16];
    char host[CALLBACK_HOST_MAX + 2];
    int port; /* 0: any */
} pattern;

/* Parses pattern text s[0..len) (already trimmed). Returns 0 when invalid. */
static int pattern_parse(const char *s, size_t len, pattern *pt) {
    memset(pt, 0, sizeof(*pt));
    if (len == 1 && s[0] == '*') {
        pt->any = 1;
        return 1;
    }
    const char *host = s, *port = NULL;
    size_t hlen;
    if (s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (!close) return 0;
        host = s + 1;
        hlen = (size_t)(close - host);
        if (!parse_ipv6(host, hlen, pt->addr)) return 0;
        pt->ipv6 = 1;
        if (close + 1 < s + len) {
            if (close[1] != ':') return 0;
            port = close + 2;
        }
    } else {
        const char *colon = memchr(s, ':', len);
        hlen = colon ? (size_t)(colon - s) : len;
        if (colon) port = colon + 1;
        if (hlen >= 2 && host[0] == '*' && host[1] == '.') {
            pt->wildcard = 1;
            host++;
            hlen--;
        }
        if (hlen == 0 || (pt->wildcard && hlen < 2) || hlen > CALLBACK_HOST_MAX) return 0;
        for (size_t i = 0; i < hlen; i++) {
            if (!host_char(host[i])) return 0;
            pt->host[i] = (char)tolower((unsigned char)host[i]);
        }
        pt->host[hlen] = '\0';
    }
    if (port && (pt->port = parse_port(port, (size_t)(s + len - port))) < 0) return 0;
    return 1;
}

/* Calls fn on each trimmed, non-empty pattern of the list until it returns
 * non-zero; returns that, or 0. */
static int each_pattern(const char *list, int (*fn)(const char *s, size_t len, void *arg),
                        void *arg) {
    const char *p = list ? list : "";
    while (*p) {
        size_t n = strcspn(p, ",");
        const char *s = p, *e = p + n;
        while (s < e && isspace((unsigned char)*s)) s++;
        while (e > s && isspace((unsigned char)e[-1])) e--;
        if (e > s) {
            int r = fn(s, (size_t)(e - s), arg);
            if (r) return r;
        }
        p += n;
        if (*p == ',') p++;
    }
    return 0;
}

typedef struct check_arg {
    char *errstr;
    size_t errsize;
} check_arg;

static int check_one(const char *s, size_t len, void *arg) {
    check_arg *a = arg;
    pattern pt;
    if (pattern_parse(s, len, &pt)) return 0;
    snprintf(a->errstr, a->errsize,
             "gateway.callback_hosts: \"%.*s\" is not a host pattern (host, *.domain, "
             "host:port, [IPv6]:port or *)",
             (int)(len > 300 ? 300 : len), s);
    return 1;
}

int callback_hosts_check(const char *patterns, char *errstr, size_t errsize) {
    check_arg a = {errstr, errsize};
    return each_pattern(patterns, check_one, &a) ? CALLBACK_ERR : CALLBACK_OK;
}

static int nonempty_one(const char *s, size_t len, void *arg) {
    (void)s, (void)len, (void)arg;
    return 1;
}

static int match_one(const char *s, size_t len, void *arg) {
    const callback_url *u = arg;
    pattern pt;
    if (!pattern_parse(s, len, &pt)) return 0;
    if (pt.any) return 1;
    if (pt.port && pt.port != u->port) return 0;
    if (pt.ipv6) {
        unsigned char addr[16];
        return u->ipv6 && parse_ipv6(u->host, strlen(u->host), addr) &&
               memcmp(addr, pt.addr, 16) == 0;
    }
    if (u->ipv6) return 0;
    if (pt.wildcard) {
        size_t hl = strlen(u->host), sl = strlen(pt.host);
        return hl > sl && strcmp(u->host + hl - sl, pt.host) == 0;
    }
    return strcmp(u->host, pt.host) == 0;
}

int callback_host_allowed(const callback_url *u, const char *patterns) {
    return each_pattern(patterns, match_one, (void *)u);
}

int callback_check_url(const char *url, const char *patterns, char *errstr, size_t errsize) {
    if (!each_pattern(patterns, nonempty_one, NULL)) {
        snprintf(errstr, errsize,
                 "callbacks are disabled on this gateway (gateway.callback_hosts is empty)");
        return CALLBACK_DISABLED;
    }
    callback_url u;
    char why[160];
    if (callback_url_parse(url, &u, why, sizeof(why)) != CALLBACK_OK) {
        snprintf(errstr, errsize, "%s", why);
        return CALLBACK_BAD_URL;
    }
    if (!callback_host_allowed(&u, patterns)) {
        snprintf(errstr, errsize,
                 "callbackUrl host %s%s%s port %d is not allowed by gateway.callback_hosts",
                 u.ipv6 ? "[" : "", u.host, u.ipv6 ? "]" : "", u.port);
        return CALLBACK_HOST_DENIED;
    }
    return CALLBACK_OK;
}

#define CALLBACK_MEMBER "callbackUrl"

int callback_take_url(const char *text, size_t len, char **url, char **rest, size_t *rest_len,
                      char *errstr, size_t errsize) {
    *url = *rest = NULL;
    *rest_len = 0;
    if (!text || !memmem(text, len, CALLBACK_MEMBER, strlen(CALLBACK_MEMBER))) return CALLBACK_OK;
    /* The order parser's own flags: a document it would refuse is left to
     * it, untouched, so its error (with line and column) is the answer. */
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    json_t *v = json_is_object(root) ? json_object_get(root, CALLBACK_MEMBER) : NULL;
    if (!v) {
        json_decref(root);
        return CALLBACK_OK;
    }
    if (!json_is_string(v) && !json_is_null(v)) {
        snprintf(errstr, errsize, "expected a string (an http:// or https:// URL), got %s",
                 json_is_object(v)   ? "an object"
                 : json_is_array(v)  ? "an array"
                 : json_is_number(v) ? "a number"
                                     : "a boolean");
        json_decref(root);
        return CALLBACK_BAD_URL;
    }
    if (json_is_string(v) && !(*url = strndup(json_string_value(v), json_string_length(v)))) {
        json_decref(root);
        return CALLBACK_ERR;
    }
    json_object_del(root, CALLBACK_MEMBER);
    *rest = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (!*rest) {
        free(*url);
        *url = NULL;
        return CALLBACK_ERR;
    }
    *rest_len = strlen(*rest);
    return CALLBACK_OK;
}

/* ---- signature and backoff ---------------------------------------------- */

int callback_sign(const void *secret, size_t secret_len, int64_t t, const char *body,
                  size_t body_len, char out[CALLBACK_SIGNATURE_MAX]) {
    char ts[24];
    int tn = snprintf(ts, sizeof(ts), "%lld", (long long)t);
    size_t n = (size_t)tn + 1 + body_len;
    unsigned char *text = malloc(n ? n : 1);
    if (!text) return CALLBACK_ERR;
    memcpy(text, ts, (size_t)tn);
    text[tn] = '.';
    if (body_len) memcpy(text + tn + 1, body, body_len);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    static const unsigned char empty = 0;
    unsigned char *ok = HMAC(EVP_sha256(), secret_len ? secret : &empty, (int)secret_len, text, n,
                             md, &mdlen);
    free(text);
    if (!ok || mdlen != 32) return CALLBACK_ERR;
    int w = snprintf(out, CALLBACK_SIGNATURE_MAX, "t=%s,v1=", ts);
    for (unsigned i = 0; i < mdlen; i++) snprintf(out + w + 2 * i, 3, "%02x", md[i]);
    return CALLBACK_OK;
}

int64_t callback_backoff_ms(int retry, uint64_t rnd) {
    if (retry < 1) retry = 1;
    int64_t d = CALLBACK_BACKOFF_CAP_MS;
    if (retry - 1 < 30) {
        int64_t x = (int64_t)CALLBACK_BACKOFF_BASE_MS << (retry - 1);
        if (x < d) d = x;
    }
    int64_t half = d / 2;
    return half + (int64_t)(rnd % (uint64_t)(half + 1));
}

/* ---- deliveries and the queue ------------------------------------------- */

callback_delivery *callback_delivery_new(const char *order_id, const char *url,
                                         const char *traceparent, const char *body,
                                         size_t body_len) {
    size_t idlen = strlen(order_id);
    callback_delivery *d = calloc(1, sizeof(*d) + idlen + 1);
    if (!d) return NULL;
    memcpy(d->order_id, order_id, idlen + 1);
    d->url = strdup(url);
    d->body = malloc(body_len + 1);
    if (!d->url || !d->body) goto err;
    memcpy(d->body, body, body_len);
    d->body[body_len] = '\0';
    d->body_len = body_len;
    if (traceparent && trace_valid(traceparent, strlen(traceparent)))
        snprintf(d->traceparent, sizeof(d->traceparent), "%s", traceparent);
    else
        trace_new(d->traceparent);
    id_uuid7(d->delivery_id);
    d->due_ms = time_mono_ms();
    d->known_us = time_mono_us();
    return d;

err:
    callback_delivery_free(d);
    return NULL;
}

void callback_delivery_free(callback_delivery *d) {
    if (!d) return;
    free(d->url);
    free(d->body);
    free(d);
}

struct callback_queue {
    callback_delivery **heap;
    size_t len, cap;
    uint64_t next_seq;
};

static int before(const callback_delivery *a, const callback_delivery *b) {
    return a->due_ms != b->due_ms ? a->due_ms < b->due_ms : a->seq < b->seq;
}

static void sift_up(callback_queue *q, size_t i) {
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!before(q->heap[i], q->heap[parent])) break;
        callback_delivery *t = q->heap[i];
        q->heap[i] = q->heap[parent];
        q->heap[parent] = t;
        i = parent;
    }
}

static void sift_down(callback_queue *q, size_t i) {
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < q->len && before(q->heap[l], q->heap[m])) m = l;
        if (r < q->len && before(q->heap[r], q->heap[m])) m = r;
        if (m == i) return;
        callback_delivery *t = q->heap[i];
        q->heap[i] = q->heap[m];
        q->heap[m] = t;
        i = m;
    }
}

/* Takes out the element at i. */
static callback_delivery *remove_at(callback_queue *q, size_t i) {
    callback_delivery *d = q->heap[i];
    q->heap[i] = q->heap[--q->len];
    if (i < q->len) {
        sift_down(q, i);
        sift_up(q, i);
    }
    return d;
}

callback_queue *callback_queue_new(size_t capacity) {
    callback_queue *q = calloc(1, sizeof(*q));
    if (!q) return NULL;
    q->cap = capacity ? capacity : 1;
    q->heap = calloc(q->cap, sizeof(*q->heap));
    if (!q->heap) {
        free(q);
        return NULL;
    }
    q->next_seq = 1;
    return q;
}

callback_delivery *callback_queue_push(callback_queue *q, callback_delivery *d) {
    if (d->seq == 0) d->seq = q->next_seq++;
    callback_delivery *victim = NULL;
    if (q->len == q->cap) {
        size_t oldest = 0;
        for (size_t i = 1; i < q->len; i++)
            if (q->heap[i]->seq < q->heap[oldest]->seq) oldest = i;
        if (d->seq < q->heap[oldest]->seq) return d; /* d is the oldest */
        victim = remove_at(q, oldest);
    }
    q->heap[q->len++] = d;
    sift_up(q, q->len - 1);
    return victim;
}

callback_delivery *callback_queue_pop_due(callback_queue *q, int64_t now_ms,
                                          int64_t *next_due_ms) {
    callback_delivery *d = NULL;
    if (q->len > 0 && q->heap[0]->due_ms <= now_ms) d = remove_at(q, 0);
    if (next_due_ms) *next_due_ms = q->len > 0 ? q->heap[0]->due_ms : -1;
    return d;
}

size_t callback_queue_len(const callback_queue *q) { return q->len; }

void callback_queue_free(callback_queue *q) {
    if (!q) return;
    for (size_t i = 0; i < q->len; i++) callback_delivery_free(q->heap[i]);
    free(q->heap);
    free(q);
}

/* ---- the module --------------------------------------------------------- */

struct callback {
    const of_config *cfg;
    gmetrics *gm;
    int enabled;
    unsigned char *secret; /* never logged */
    size_t secret_len;
    recent_t *awaiting;    /* event loop: order id -> url NUL traceparent */
    uint64_t awaiting_evicted_seen;
    /* Shared with the delivery thread, under mu. */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    callback_queue *q;
    int stopping;
    int64_t stop_deadline_ms;
    /* stop_deadline_ms once stopping, else INT64_MAX: read without the lock by
     * an attempt under way (on_progress), which it cuts when it passes. */
    _Atomic int64_t abort_at_ms;
    callback_stats st;
    int thread_started, stopped, curl_inited, sync_inited;
    pthread_t thread;
    /* The delivery thread's own. */
    CURL *curl;
    rng rnd;
};

/* The callbacks_total series of a result, or NULL without metrics. */
static metric *result_metric(const callback_t *cb, int result) {
    return cb->gm ? cb->gm->callbacks[result] : NULL;
}

/* Reads the secret file (config_read_secret_file(): the same rules as the
 * Kafka secrets' files). */
static int read_secret_file(callback_t *cb, const char *path, char *errstr, size_t errsize) {
    char *secret = NULL;
    if (config_read_secret_file(path, "gateway.callback_secret_file", &secret, errstr, errsize) !=
        CONFIG_OK)
        return CALLBACK_ERR;
    cb->secret = (unsigned char *)secret;
    cb->secret_len = strlen(secret);
    return CALLBACK_OK;
}

/* The secret settings: one of the two at most; the file read into cb when
 * cb is not NULL (else only checked). */
static int load_secret(callback_t *cb, const of_config *cfg, int *have, char *errstr,
                       size_t errsize) {
    const char *secret = cfg->gateway_callback_secret ? cfg->gateway_callback_secret : "";
    const char *file = cfg->gateway_callback_secret_file ? cfg->gateway_callback_secret_file : "";
    *have = *secret || *file;
    if (*secret && *file) {
        snprintf(errstr, errsize,
                 "gateway.callback_secret and gateway.callback_secret_file are both set: "
                 "set one of them");
        return CALLBACK_ERR;
    }
    callback_t tmp = {0};
    callback_t *into = cb ? cb : &tmp;
    if (*file) {
        if (read_secret_file(into, file, errstr, errsize) != CALLBACK_OK) return CALLBACK_ERR;
    } else if (*secret) {
        into->secret_len = strlen(secret);
        if (!(into->secret = (unsigned char *)strdup(secret))) {
            snprintf(errstr, errsize, "out of memory");
            return CALLBACK_ERR;
        }
    }
    if (!cb && tmp.secret) {
        OPENSSL_cleanse(tmp.secret, tmp.secret_len);
        free(tmp.secret);
    }
    return CALLBACK_OK;
}

int callback_check_config(const of_config *cfg, char *errstr, size_t errsize) {
    const char *hosts = cfg->gateway_callback_hosts ? cfg->gateway_callback_hosts : "";
    int have = 0;
    if (callback_hosts_check(hosts, errstr, errsize) != CALLBACK_OK ||
        load_secret(NULL, cfg, &have, errstr, errsize) != CALLBACK_OK)
        return CALLBACK_ERR;
    if (each_pattern(hosts, nonempty_one, NULL) && !have) {
        snprintf(errstr, errsize,
                 "gateway.callback_hosts is set but no secret signs the callbacks: set "
                 "gateway.callback_secret (ORDERFLEET_GATEWAY_CALLBACK_SECRET) or "
                 "gateway.callback_secret_file");
        return CALLBACK_ERR;
    }
    return CALLBACK_OK;
}

static void *deliver_loop(void *arg);

callback_t *callback_new(const of_config *cfg, gmetrics *gm, char *errstr, size_t errsize) {
    callback_t *cb = calloc(1, sizeof(*cb));
    if (!cb) {
        snprintf(errstr, errsize, "out of memory");
        return NULL;
    }
    cb->cfg = cfg;
    cb->gm = gm;
    atomic_init(&cb->abort_at_ms, INT64_MAX);
    const char *hosts = cfg->gateway_callback_hosts ? cfg->gateway_callback_hosts : "";
    int have = 0;
    if (callback_check_config(cfg, errstr, errsize) != CALLBACK_OK ||
        load_secret(cb, cfg, &have, errstr, errsize) != CALLBACK_OK)
        goto err;
    cb->enabled = each_pattern(hosts, nonempty_one, NULL);
    if (!cb->enabled) return cb; /* no thread, no curl: every callbackUrl is refused */
    cb->awaiting = recent_new((size_t)cfg->gateway_outcomes, 0);
    cb->q = callback_queue_new((size_t)cfg->gateway_callback_queue);
    if (!cb->awaiting || !cb->q) {
        snprintf(errstr, errsize, "out of memory for %d callbacks (gateway.callback_queue)",
                 cfg->gateway_callback_queue);
        goto err;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(errstr, errsize, "libcurl failed to initialise");
        goto err;
    }
    cb->curl_inited = 1;
    if (!(cb->curl = curl_easy_init())) {
        snprintf(errstr, errsize, "libcurl: cannot create a handle");
        goto err;
    }
    rng_seed_random(&cb->rnd);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int rc = pthread_mutex_init(&cb->mu, NULL);
    if (rc == 0 && (rc = pthread_cond_init(&cb->cv, &ca)) != 0) pthread_mutex_destroy(&cb->mu);
    pthread_condattr_destroy(&ca);
    if (rc != 0) {
        snprintf(errstr, errsize, "cannot create the callback queue's lock: %s", strerror(rc));
        goto err;
    }
    cb->sync_inited = 1;
    if ((rc = pthread_create(&cb->thread, NULL, deliver_loop, cb)) != 0) {
        snprintf(errstr, errsize, "cannot start the callback thread: %s", strerror(rc));
        goto err;
    }
    cb->thread_started = 1;
    return cb;

err:
    callback_free(cb);
    return NULL;
}

int callback_enabled(const callback_t *cb) { return cb && cb->enabled; }

int callback_check(const callback_t *cb, const char *url, char *errstr, size_t errsize) {
    return callback_check_url(url, cb && cb->enabled ? cb->cfg->gateway_callback_hosts : "",
                              errstr, errsize);
}

/* Counts the awaiting entries the map forgot since last time (orders whose
 * outcome did not come before gateway.outcomes newer ones were placed). */
static void count_forgotten(callback_t *cb) {
    uint64_t ev = recent_evicted(cb->awaiting);
    if (ev == cb->awaiting_evicted_seen) return;
    uint64_t n = ev - cb->awaiting_evicted_seen;
    cb->awaiting_evicted_seen = ev;
    pthread_mutex_lock(&cb->mu);
    cb->st.dropped += n;
    pthread_mutex_unlock(&cb->mu);
    metric_add(result_metric(cb, CALLBACK_RESULT_DROPPED), n);
    log_warn("callbacks forgotten: their outcome did not come in time", "count=%llu",
             (unsigned long long)n);
}

int callback_expect(callback_t *cb, const char *order_id, const char *url,
                    const char *traceparent) {
    if (!cb || !cb->enabled) return CALLBACK_ERR;
    size_t ulen = strlen(url), tlen = traceparent ? strlen(traceparent) : 0;
    char *value = malloc(ulen + 1 + tlen + 1);
    if (!value) return CALLBACK_ERR;
    memcpy(value, url, ulen + 1);
    if (tlen) memcpy(value + ulen + 1, traceparent, tlen);
    value[ulen + 1 + tlen] = '\0';
    int rc = recent_put(cb->awaiting, order_id, strlen(order_id), value, ulen + tlen + 2);
    free(value);
    if (rc != RECENT_OK) return CALLBACK_ERR;
    pthread_mutex_lock(&cb->mu);
    cb->st.expected++;
    pthread_mutex_unlock(&cb->mu);
    count_forgotten(cb);
    return CALLBACK_OK;
}

void callback_cancel(callback_t *cb, const char *order_id) {
    if (cb && cb->enabled) (void)recent_del(cb->awaiting, order_id, strlen(order_id));
}

/* Under mu: counts and logs a delivery that will not be made, and frees it. */
static void give_up_locked(callback_t *cb, callback_delivery *d, int result, const char *why) {
    switch (result) {
    case CALLBACK_RESULT_FAILED: cb->st.failed++; break;
    case CALLBACK_RESULT_DROPPED: cb->st.dropped++; break;
    default: cb->st.shutdown++; break;
    }
    metric_add(result_metric(cb, result), 1);
    log_warn("callback undelivered", "order_id=%s delivery=%s attempts=%d reason=%s",
             d->order_id, d->delivery_id, d->attempts, why);
    callback_delivery_free(d);
}

void callback_outcome(callback_t *cb, const char *order_id, const char *json, size_t len) {
    if (!cb || !cb->enabled) return;
    const void *v;
    size_t vlen;
    if (recent_get(cb->awaiting, order_id, strlen(order_id), &v, &vlen) != RECENT_OK) return;
    const char *url = v;
    const char *tp = url + strlen(url) + 1;
    callback_delivery *d = callback_delivery_new(order_id, url, tp, json, len);
    (void)recent_del(cb->awaiting, order_id, strlen(order_id));
    if (!d) {
        log_error("callback lost: out of memory", "order_id=%s", order_id);
        return;
    }
    pthread_mutex_lock(&cb->mu);
    cb->st.enqueued++;
    callback_delivery *victim = callback_queue_push(cb->q, d);
    if (victim)
        give_up_locked(cb, victim, CALLBACK_RESULT_DROPPED,
                       "queue full (gateway.callback_queue): the oldest is dropped");
    pthread_cond_signal(&cb->cv);
    pthread_mutex_unlock(&cb->mu);
}

void callback_history_listener(const history_event *ev, void *ctx) {
    if (ev->kind == HISTORY_EV_OUTCOME) callback_outcome(ctx, ev->order_id, ev->json, ev->json_len);
}

/* ---- the delivery thread ------------------------------------------------ */

static size_t discard(char *ptr, size_t size, size_t nmemb, void *arg) {
    (void)ptr, (void)arg;
    return size * nmemb;
}

/* What one attempt came to. */
#define ATTEMPT_DELIVERED 0
#define ATTEMPT_RETRY 1
#define ATTEMPT_FINAL 2

/* libcurl's progress callback, about once a second and on every transfer
 * event: non-zero aborts the attempt, once the gateway's stop deadline has
 * passed (an attempt begun before the stop keeps its own, longer timeout
 * otherwise, and the gateway's exit would wait for it). */
static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow) {
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    const callback_t *cb = arg;
    return time_mono_ms() >= atomic_load_explicit(&cb->abort_at_ms, memory_order_relaxed);
}

/* Makes one attempt of d, cut to timeout_ms, outside the lock. why gets a
 * short reason when not delivered; *retry_after_s the receiver's
 * Retry-After (0: none). Cost: one HTTP exchange; the handle keeps its
 * connections for the next attempt to the same receiver. */
static int attempt(callback_t *cb, callback_delivery *d, long timeout_ms, char *why,
                   size_t whysize, long *retry_after_s) {
    CURL *h = cb->curl;
    char sig[CALLBACK_SIGNATURE_MAX], line[256], tp[TRACE_PARENT_LEN + 1];
    struct curl_slist *hdrs = NULL, *t;
    *retry_after_s = 0;
    if (callback_sign(cb->secret, cb->secret_len, time_now_ms() / 1000, d->body, d->body_len,
                      sig) != CALLBACK_OK) {
        snprintf(why, whysize, "cannot sign (out of memory)");
        return ATTEMPT_RETRY;
    }
    trace_child(d->traceparent, strlen(d->traceparent), tp);
    const char *fixed[] = {"Content-Type: application/json", "Expect:", NULL};
    int ok = 1;
    for (int i = 0; fixed[i] && ok; i++) ok = (t = curl_slist_append(hdrs, fixed[i])) && (hdrs = t);
    snprintf(line, sizeof(line), CALLBACK_HEADER_SIGNATURE ": %s", sig);
    if (ok) ok = (t = curl_slist_append(hdrs, line)) && (hdrs = t);
    snprintf(line, sizeof(line), CALLBACK_HEADER_ORDER_ID ": %s", d->order_id);
    if (ok) ok = (t = curl_slist_append(hdrs, line)) && (hdrs = t);
    snprintf(line, sizeof(line), CALLBACK_HEADER_DELIVERY ": %s", d->delivery_id);
    if (ok) ok = (t = curl_slist_append(hdrs, line)) && (hdrs = t);
    snprintf(line, sizeof(line), "traceparent: %s", tp);
    if (ok) ok = (t = curl_slist_append(hdrs, line)) && (hdrs = t);
    if (!ok) {
        curl_slist_free_all(hdrs);
        snprintf(why, whysize, "out of memory");
        return ATTEMPT_RETRY;
    }
    char cerr[CURL_ERROR_SIZE] = "";
    curl_easy_reset(h); /* options only: connections and caches stay */
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, cb);
    curl_easy_setopt(h, CURLOPT_URL, d->url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, d->body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)d->body_len);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_USERAGENT, USER_AGENT);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
    CURLcode rc = curl_easy_perform(h);
    long status = 0;
    curl_off_t ra = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (curl_easy_getinfo(h, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK && ra > 0)
        *retry_after_s = ra > 86400 ? 86400 : (long)ra;
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hdrs);
    if (rc != CURLE_OK) {
        snprintf(why, whysize, "%s", cerr[0] ? cerr : curl_easy_strerror(rc));
        if (rc == CURLE_UNSUPPORTED_PROTOCOL || rc == CURLE_URL_MALFORMAT) return ATTEMPT_FINAL;
        return ATTEMPT_RETRY;
    }
    if (status >= 200 && status < 300) return ATTEMPT_DELIVERED;
    snprintf(why, whysize, "HTTP %ld%s", status,
             status >= 300 && status < 400 ? " (redirects are not followed)" : "");
    if (status == 408 || status == 429 || status >= 500) return ATTEMPT_RETRY;
    return ATTEMPT_FINAL;
}

/* Under mu: waits on the condition until abs_ms (monotonic), or for ever
 * when abs_ms < 0. */
static void wait_until(callback_t *cb, int64_t abs_ms) {
    if (abs_ms < 0) {
        pthread_cond_wait(&cb->cv, &cb->mu);
        return;
    }
    struct timespec ts = {.tv_sec = (time_t)(abs_ms / 1000),
                          .tv_nsec = (long)(abs_ms % 1000) * 1000000L};
    pthread_cond_timedwait(&cb->cv, &cb->mu, &ts);
}

/* The thread: takes the delivery due first, attempts it outside the lock,
 * then counts it or schedules its retry. While stopping, only what is due
 * before the stop deadline is tried; then the rest is logged undelivered. */
static void *deliver_loop(void *arg) {
    callback_t *cb = arg;
    pthread_mutex_lock(&cb->mu);
    for (;;) {
        int64_t now = time_mono_ms(), next = -1;
        callback_delivery *d = callback_queue_pop_due(cb->q, now, &next);
        if (!d) {
            if (cb->stopping &&
                (next < 0 || next > cb->stop_deadline_ms || now >= cb->stop_deadline_ms))
                break;
            int64_t until = next;
            if (cb->stopping && (until < 0 || until > cb->stop_deadline_ms))
                until = cb->stop_deadline_ms;
            wait_until(cb, until);
            continue;
        }
        if (cb->stopping && now >= cb->stop_deadline_ms) {
            (void)callback_queue_push(cb->q, d); /* logged with the rest below */
            break;
        }
        long timeout = cb->cfg->gateway_callback_timeout_ms;
        if (cb->stopping && cb->stop_deadline_ms - now < timeout)
            timeout = (long)(cb->stop_deadline_ms - now);
        if (d->attempts > 0) {
            cb->st.retried++;
            metric_add(cb->gm ? cb->gm->callback_retries : NULL, 1);
        }
        d->attempts++;
        pthread_mutex_unlock(&cb->mu);
        char why[CURL_ERROR_SIZE + 64] = "";
        long retry_after_s = 0;
        int r = attempt(cb, d, timeout, why, sizeof(why), &retry_after_s);
        pthread_mutex_lock(&cb->mu);
        if (r == ATTEMPT_DELIVERED) {
            cb->st.delivered++;
            metric_add(result_metric(cb, CALLBACK_RESULT_DELIVERED), 1);
            metric_observe(cb->gm ? cb->gm->callback_latency : NULL,
                           (double)(time_mono_us() - d->known_us) / 1e6);
            log_debug("callback delivered", "order_id=%s delivery=%s attempts=%d", d->order_id,
                      d->delivery_id, d->attempts);
            callback_delivery_free(d);
            continue;
        }
        if (r == ATTEMPT_FINAL) {
            give_up_locked(cb, d, CALLBACK_RESULT_FAILED, why);
            continue;
        }
        if (d->attempts >= cb->cfg->gateway_callback_attempts) {
            char last[sizeof(why) + 48];
            snprintf(last, sizeof(last), "%s; no attempts left (gateway.callback_attempts)", why);
            give_up_locked(cb, d, CALLBACK_RESULT_FAILED, last);
            continue;
        }
        int64_t wait = callback_backoff_ms(d->attempts, rng_next(&cb->rnd));
        if (retry_after_s * 1000 > wait) wait = retry_after_s * 1000;
        if (wait > CALLBACK_BACKOFF_CAP_MS) wait = CALLBACK_BACKOFF_CAP_MS;
        d->due_ms = time_mono_ms() + wait;
        if (cb->stopping && d->due_ms > cb->stop_deadline_ms) {
            char last[sizeof(why) + 96]; /* why and the sentence whole */
            snprintf(last, sizeof(last), "%s; gateway stopping: the next retry is not due "
                     "within the shutdown grace period", why);
            give_up_locked(cb, d, CALLBACK_RESULT_SHUTDOWN, last);
            continue;
        }
        log_info("callback attempt failed, will retry", "order_id=%s delivery=%s attempt=%d "
                 "retry_in_ms=%lld error=%s",
                 d->order_id, d->delivery_id, d->attempts, (long long)wait, why);
        callback_delivery *victim = callback_queue_push(cb->q, d);
        if (victim)
            give_up_locked(cb, victim, CALLBACK_RESULT_DROPPED,
                           "queue full (gateway.callback_queue): the oldest is dropped");
    }
    callback_delivery *d;
    while ((d = callback_queue_pop_due(cb->q, INT64_MAX, NULL)))
        give_up_locked(cb, d, CALLBACK_RESULT_SHUTDOWN,
                       "gateway stopping: not due within the shutdown grace period");
    pthread_mutex_unlock(&cb->mu);
    return NULL;
}

void callback_stop(callback_t *cb, int grace_ms) {
    if (!cb || cb->stopped) return;
    cb->stopped = 1;
    if (cb->awaiting && recent_count(cb->awaiting) > 0) {
        size_t n = recent_count(cb->awaiting);
        pthread_mutex_lock(&cb->mu);
        cb->st.shutdown += n;
        pthread_mutex_unlock(&cb->mu);
        metric_add(result_metric(cb, CALLBACK_RESULT_SHUTDOWN), n);
        log_warn("callbacks undelivered: the gateway stops before their outcome came",
                 "count=%zu", n);
    }
    if (!cb->thread_started) return;
    pthread_mutex_lock(&cb->mu);
    cb->stopping = 1;
    cb->stop_deadline_ms = time_mono_ms() + (grace_ms > 0 ? grace_ms : 0);
    atomic_store_explicit(&cb->abort_at_ms, cb->stop_deadline_ms, memory_order_relaxed);
    pthread_cond_signal(&cb->cv);
    pthread_mutex_unlock(&cb->mu);
    pthread_join(cb->thread, NULL);
    cb->thread_started = 0;
    callback_stats st;
    callback_stats_get(cb, &st);
    log_info("callbacks stopped",
             "expected=%llu delivered=%llu failed=%llu retried=%llu dropped=%llu "
             "undelivered_at_shutdown=%llu",
             (unsigned long long)st.expected, (unsigned long long)st.delivered,
             (unsigned long long)st.failed, (unsigned long long)st.retried,
             (unsigned long long)st.dropped, (unsigned long long)st.shutdown);
}

void callback_stats_get(callback_t *cb, callback_stats *st) {
    if (!cb || !cb->sync_inited) {
        memset(st, 0, sizeof(*st));
        if (cb) *st = cb->st;
        return;
    }
    pthread_mutex_lock(&cb->mu);
    *st = cb->st;
    pthread_mutex_unlock(&cb->mu);
}

void callback_free(callback_t *cb) {
    if (!cb) return;
    callback_stop(cb, 0);
    if (cb->curl) curl_easy_cleanup(cb->curl);
    if (cb->curl_inited) curl_global_cleanup();
    if (cb->sync_inited) {
        pthread_cond_destroy(&cb->cv);
        pthread_mutex_destroy(&cb->mu);
    }
    callback_queue_free(cb->q);
    recent_free(cb->awaiting);
    if (cb->secret) {
        OPENSSL_cleanse(cb->secret, cb->secret_len);
        free(cb->secret);
    }
    free(cb);
}
