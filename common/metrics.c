#define _POSIX_C_SOURCE 200809L
#include "common/metrics.h"

#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common/timeutil.h"

const double metrics_seconds_buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                          0.25,  0.5,    1,     2.5,  5,     10,   30, 60};
const size_t metrics_seconds_nbuckets =
    sizeof(metrics_seconds_buckets) / sizeof(metrics_seconds_buckets[0]);

typedef enum { KIND_COUNTER, KIND_GAUGE, KIND_HISTOGRAM } metric_kind;

/* One series. value holds a counter's count, or a gauge's double as bits;
 * a histogram has its per-bucket counts (not cumulative: rendering sums
 * them, and their total is the count) and its sum (a double as bits,
 * updated by CAS). */
struct metric {
    struct metric *next;
    const struct metric_family *family;
    char *labels[METRICS_MAX_LABELS]; /* values, owned */
    _Atomic uint64_t value;
    _Atomic uint64_t sum_bits;
    _Atomic uint64_t *buckets; /* nbounds + 1 (the last is +Inf), owned */
};

struct metric_family {
    struct metric_family *next;
    metric_kind kind;
    char *name; /* with the prefix, owned */
    char *help; /* owned */
    size_t nlabels;
    char *label_names[METRICS_MAX_LABELS]; /* owned */
    double *bounds;                        /* histogram, owned */
    size_t nbounds;
    pthread_mutex_t lock; /* guards the series list, not the values */
    metric *series, *last;
};

struct metrics {
    char *prefix;
    double started_s; /* the process's start, seconds since the epoch */
    metric_family *families, *last;
};

static uint64_t double_bits(double d) {
    uint64_t u;
    memcpy(&u, &d, sizeof(u));
    return u;
}

static double bits_double(uint64_t u) {
    double d;
    memcpy(&d, &u, sizeof(d));
    return d;
}

/* When this process started, in seconds since the epoch: its start in clock
 * ticks after boot (/proc/self/stat, field 22) plus the boot time
 * (/proc/stat, btime). Falls back to now when /proc cannot tell. */
static double process_start_s(void) {
    double now = (double)time_now_ms() / 1000.0;
    char buf[1024];
    FILE *f = fopen("/proc/self/stat", "r");
    size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
    if (f) fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    unsigned long long ticks = 0, btime = 0;
    for (int field = 2; p && field < 22; field++) p = strchr(p + 1, ' ');
    if (!p || sscanf(p + 1, "%llu", &ticks) != 1) return now;
    if (!(f = fopen("/proc/stat", "r"))) return now;
    char line[256];
    while (fgets(line, sizeof(line), f) && sscanf(line, "btime %llu", &btime) != 1) {
    }
    fclose(f);
    long hz = sysconf(_SC_CLK_TCK);
    if (!btime || hz <= 0) return now;
    return (double)btime + (double)ticks / (double)hz;
}

metrics *metrics_new(const char *prefix) {
    metrics *m = calloc(1, sizeof(*m));
    if (!m) return NULL;
    if (!(m->prefix = strdup(prefix))) {
        free(m);
        return NULL;
    }
    m->started_s = process_start_s();
    return m;
}

static void series_free(metric *s, size_t nlabels) {
    for (size_t i = 0; i < nlabels; i++) free(s->labels[i]);
    free(s->buckets);
    free(s);
}

static void family_free(metric_family *f) {
    metric *s = f->series;
    while (s) {
        metric *next = s->next;
        series_free(s, f->nlabels);
        s = next;
    }
    for (size_t i = 0; i < f->nlabels; i++) free(f->label_names[i]);
    pthread_mutex_destroy(&f->lock);
    free(f->name);
    free(f->help);
    free(f->bounds);
    free(f);
}

void metrics_free(metrics *m) {
    if (!m) return;
    metric_family *f = m->families;
    while (f) {
        metric_family *next = f->next;
        family_free(f);
        f = next;
    }
    free(m->prefix);
    free(m);
}

/* A new series of f with the given label values (copied), appended to f's
 * list. Called with f's lock held. */
static metric *series_new(metric_family *f, const char *const *values) {
    metric *s = calloc(1, sizeof(*s));
    if (!s) return NULL;
    s->family = f;
    for (size_t i = 0; i < f->nlabels; i++)
        if (!(s->labels[i] = strdup(values[i] ? values[i] : ""))) goto err;
    if (f->kind == KIND_HISTOGRAM && !(s->buckets = calloc(f->nbounds + 1, sizeof(*s->buckets))))
        goto err;
    if (f->last) f->last->next = s;
    else f->series = s;
    f->last = s;
    return s;
err:
    series_free(s, f->nlabels);
    return NULL;
}

/* Splits "a,b" into f's label names. Returns METRICS_ERR on too many or
 * out of memory. */
static int family_labels(metric_family *f, const char *labels) {
    if (!labels || !*labels) return METRICS_OK;
    for (const char *p = labels;;) {
        size_t n = strcspn(p, ",");
        if (f->nlabels == METRICS_MAX_LABELS) return METRICS_ERR;
        if (!(f->label_names[f->nlabels] = strndup(p, n))) return METRICS_ERR;
        f->nlabels++;
        if (!p[n]) return METRICS_OK;
        p += n + 1;
    }
}

static metric_family *family_new(metrics *m, metric_kind kind, const char *name,
                                 const char *help, const char *labels, const double *bounds,
                                 size_t nbounds) {
    metric_family *f = calloc(1, sizeof(*f));
    if (!f) return NULL;
    pthread_mutex_init(&f->lock, NULL);
    f->kind = kind;
    size_t n = strlen(m->prefix) + 1 + strlen(name) + 1;
    if (!(f->name = malloc(n))) goto err;
    snprintf(f->name, n, "%s_%s", m->prefix, name);
    if (!(f->help = strdup(help))) goto err;
    if (family_labels(f, labels) != METRICS_OK) goto err;
    if (nbounds) {
        if (!(f->bounds = malloc(nbounds * sizeof(*bounds)))) goto err;
        memcpy(f->bounds, bounds, nbounds * sizeof(*bounds));
        f->nbounds = nbounds;
    }
    if (f->nlabels == 0 && !series_new(f, NULL)) goto err;
    if (m->last) m->last->next = f;
    else m->families = f;
    m->last = f;
    return f;
err:
    family_free(f);
    return NULL;
}

metric_family *metrics_counter(metrics *m, const char *name, const char *help,
                               const char *labels) {
    return family_new(m, KIND_COUNTER, name, help, labels, NULL, 0);
}

metric_family *metrics_gauge(metrics *m, const char *name, const char *help, const char *labels) {
    return family_new(m, KIND_GAUGE, name, help, labels, NULL, 0);
}

metric_family *metrics_histogram(metrics *m, const char *name, const char *help,
                                 const char *labels, const double *bounds, size_t nbounds) {
    return family_new(m, KIND_HISTOGRAM, name, help, labels, bounds, nbounds);
}

metric *metric_series(metric_family *f, ...) {
    if (!f) return NULL;
    const char *values[METRICS_MAX_LABELS] = {0};
    va_list ap;
    va_start(ap, f);
    for (size_t i = 0; i < f->nlabels; i++) values[i] = va_arg(ap, const char *);
    va_end(ap);

    pthread_mutex_lock(&f->lock);
    metric *s = f->series;
    for (; s; s = s->next) {
        size_t i = 0;
        while (i < f->nlabels && strcmp(s->labels[i], values[i] ? values[i] : "") == 0) i++;
        if (i == f->nlabels) break;
    }
    if (!s) s = series_new(f, values);
    pthread_mutex_unlock(&f->lock);
    return s;
}

void metric_family_clear(metric_family *f) {
    if (!f) return;
    pthread_mutex_lock(&f->lock);
    metric *s = f->series;
    f->series = f->last = NULL;
    pthread_mutex_unlock(&f->lock);
    while (s) {
        metric *next = s->next;
        series_free(s, f->nlabels);
        s = next;
    }
}

void metric_add(metric *s, uint64_t n) {
    if (s) atomic_fetch_add_explicit(&s->value, n, memory_order_relaxed);
}

void metric_set_count(metric *s, uint64_t total) {
    if (s) atomic_store_explicit(&s->value, total, memory_order_relaxed);
}

void metric_set(metric *s, double value) {
    if (s) atomic_store_explicit(&s->value, double_bits(value), memory_order_relaxed);
}

/* The bucket is found by a linear scan: 15 bounds cost less than the
 * branch mispredictions of a binary search. */
void metric_observe(metric *s, double value) {
    if (!s || !s->buckets) return;
    const metric_family *f = s->family;
    size_t i = 0;
    while (i < f->nbounds && value > f->bounds[i]) i++;
    atomic_fetch_add_explicit(&s->buckets[i], 1, memory_order_relaxed);
    uint64_t old = atomic_load_explicit(&s->sum_bits, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(&s->sum_bits, &old,
                                                  double_bits(bits_double(old) + value),
                                                  memory_order_relaxed, memory_order_relaxed)) {
    }
}

/* ---- rendering ----------------------------------------------------------- */

/* A growing text buffer; after a failed allocation every append is a no-op
 * and failed says so. */
typedef struct text {
    char *buf;
    size_t len, cap;
    int failed;
} text;

static void text_printf(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void text_printf(text *t, const char *fmt, ...) {
    if (t->failed) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->buf ? t->buf + t->len : NULL, t->buf ? t->cap - t->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->failed = 1;
            return;
        }
        if (t->buf && t->len + (size_t)n < t->cap) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = t->cap ? t->cap * 2 : 4096;
        while (cap < t->len + (size_t)n + 1) cap *= 2;
        char *b = realloc(t->buf, cap);
        if (!b) {
            t->failed = 1;
            return;
        }
        t->buf = b;
        t->cap = cap;
    }
}

/* Appends s escaped as the text format asks: in HELP, '\\' and newline; in
 * a label value, also '"'. */
static void text_escaped(text *t, const char *s, int in_label) {
    for (; *s; s++) {
        if (*s == '\\') text_printf(t, "\\\\");
        else if (*s == '\n') text_printf(t, "\\n");
        else if (*s == '"' && in_label) text_printf(t, "\\\"");
        else text_printf(t, "%c", *s);
    }
}

/* A sample value: integers exactly, other values in the fewest digits that
 * read back as the same double (0.1, not 0.10000000000000001), and the
 * format's spellings of the infinities and NaN. */
static void text_value(text *t, double v) {
    if (isnan(v)) {
        text_printf(t, "NaN");
    } else if (isinf(v)) {
        text_printf(t, v > 0 ? "+Inf" : "-Inf");
    } else if (v == floor(v) && fabs(v) < 1e15) {
        text_printf(t, "%.0f", v);
    } else {
        char buf[32];
        for (int digits = 6; digits <= 17; digits++) {
            snprintf(buf, sizeof(buf), "%.*g", digits, v);
            if (strtod(buf, NULL) == v) break;
        }
        text_printf(t, "%s", buf);
    }
}

/* "{a="x",b="y"" without the closing brace (le may follow), or nothing for
 * a series without labels. Returns whether a brace was opened. */
static int text_labels(text *t, const metric_family *f, const metric *s) {
    for (size_t i = 0; i < f->nlabels; i++) {
        text_printf(t, "%s%s=\"", i ? "," : "{", f->label_names[i]);
        text_escaped(t, s->labels[i], 1);
        text_printf(t, "\"");
    }
    return f->nlabels > 0;
}

static void render_histogram(text *t, const metric_family *f, const metric *s) {
    uint64_t cumulative = 0;
    for (size_t b = 0; b <= f->nbounds; b++) {
        cumulative += atomic_load_explicit(&s->buckets[b], memory_order_relaxed);
        text_printf(t, "%s_bucket", f->name);
        text_printf(t, "%s", text_labels(t, f, s) ? ",le=\"" : "{le=\"");
        if (b < f->nbounds) text_value(t, f->bounds[b]);
        else text_printf(t, "+Inf");
        text_printf(t, "\"} %llu\n", (unsigned long long)cumulative);
    }
    /* _count is the +Inf bucket as read above, as the format requires; the
     * sum, read separately, may be an observation or two ahead of it while
     * observations run (as in Prometheus's own clients). */
    text_printf(t, "%s_sum", f->name);
    if (text_labels(t, f, s)) text_printf(t, "}");
    text_printf(t, " ");
    text_value(t, bits_double(atomic_load_explicit(&s->sum_bits, memory_order_relaxed)));
    text_printf(t, "\n%s_count", f->name);
    if (text_labels(t, f, s)) text_printf(t, "}");
    text_printf(t, " %llu\n", (unsigned long long)cumulative);
}

static void render_family(text *t, metric_family *f) {
    static const char *const types[] = {"counter", "gauge", "histogram"};
    text_printf(t, "# HELP %s ", f->name);
    text_escaped(t, f->help, 0);
    text_printf(t, "\n# TYPE %s %s\n", f->name, types[f->kind]);
    pthread_mutex_lock(&f->lock);
    for (const metric *s = f->series; s; s = s->next) {
        if (f->kind == KIND_HISTOGRAM) {
            render_histogram(t, f, s);
            continue;
        }
        text_printf(t, "%s", f->name);
        if (text_labels(t, f, s)) text_printf(t, "}");
        text_printf(t, " ");
        uint64_t v = atomic_load_explicit(&s->value, memory_order_relaxed);
        if (f->kind == KIND_COUNTER) text_printf(t, "%llu", (unsigned long long)v);
        else text_value(t, bits_double(v));
        text_printf(t, "\n");
    }
    pthread_mutex_unlock(&f->lock);
}

/* The process series, read from /proc and getrusage() at each scrape: a
 * few system calls, no state. A value that cannot be read is left out. */
static void render_process(text *t, const metrics *m) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0) {
        double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                     (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
        text_printf(t, "# HELP process_cpu_seconds_total User and system CPU time spent.\n"
                       "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total ");
        text_value(t, cpu);
        text_printf(t, "\n");
    }
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size, resident;
    if (f && fscanf(f, "%lu %lu", &size, &resident) == 2) {
        long page = sysconf(_SC_PAGESIZE);
        text_printf(t,
                    "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
                    "# TYPE process_resident_memory_bytes gauge\n"
                    "process_resident_memory_bytes %llu\n"
                    "# HELP process_virtual_memory_bytes Virtual memory size in bytes.\n"
                    "# TYPE process_virtual_memory_bytes gauge\n"
                    "process_virtual_memory_bytes %llu\n",
                    (unsigned long long)resident * (unsigned long long)page,
                    (unsigned long long)size * (unsigned long long)page);
    }
    if (f) fclose(f);
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        unsigned long fds = 0;
        for (struct dirent *e; (e = readdir(d));)
            if (e->d_name[0] != '.') fds++;
        closedir(d);
        text_printf(t, "# HELP process_open_fds Number of open file descriptors.\n"
                       "# TYPE process_open_fds gauge\nprocess_open_fds %lu\n",
                    fds > 0 ? fds - 1 : 0); /* less the one reading the directory */
    }
    text_printf(t, "# HELP process_start_time_seconds Start time of the process since the epoch.\n"
                   "# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds ");
    text_value(t, m->started_s);
    text_printf(t, "\n");
}

int metrics_render(metrics *m, char **out, size_t *len) {
    text t = {0};
    for (metric_family *f = m->families; f; f = f->next) render_family(&t, f);
    render_process(&t, m);
    if (t.failed || !t.buf) {
        free(t.buf);
        return METRICS_ERR;
    }
    *out = t.buf;
    *len = t.len;
    return METRICS_OK;
}
