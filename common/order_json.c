/* order_json: the protobuf JSON mapping of OrderPlaced (parse and dump) and
 * OrderCompleted (dump), on jansson.
 *
 * Printing choices (the mapping leaves a printer free to emit fields that
 * hold their default value or not):
 * - Fields with default values (empty string, 0, empty list or map) are
 *   omitted, as the mapping's default printers do, with two exceptions:
 *   orderId is always emitted, even empty, because it is what every reader
 *   looks for first; and OrderCompleted always carries status, subtotal, tax,
 *   shipping, total and currency, because an outcome should read completely
 *   (a tax of 0 is an answer, not an absence).
 * - Members in field-number order, lowerCamelCase, compact, on one line.
 * - int64 as decimal strings ("unitPrice":"899"), int32/uint32 as numbers,
 *   enums by full name ("ORDER_STATUS_FULFILLED"); an enum number without a
 *   name is printed as a number, as the mapping says.
 * - A string that is not UTF-8 (possible only for a message built in memory,
 *   never for one from codec_*_decode or the parser) is printed with each bad
 *   byte replaced by U+FFFD instead of failing the whole dump.
 *
 * Parsing: see order_json.h. Nesting depth is bounded twice: jansson refuses
 * documents deeper than 2048 levels while parsing, and the schema walk below
 * accepts nothing deeper than order -> items -> item (or attributes). */
#define _POSIX_C_SOURCE 200809L
#include "common/order_json.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

/* ---------------------------------------------------------------- parsing */

typedef enum {
    KIND_STRING,
    KIND_INT32,
    KIND_INT64,
    KIND_ITEMS,      /* OrderPlaced.items only */
    KIND_ATTRIBUTES, /* OrderPlaced.attributes only */
} field_kind_t;

/* One field of a message as JSON sees it: both names the mapping accepts and
 * where the value goes in the protobuf-c struct. */
typedef struct {
    const char *json_name;
    const char *proto_name;
    field_kind_t kind;
    size_t offset;
} field_spec_t;

static const field_spec_t placed_fields[] = {
    {"orderId", "order_id", KIND_STRING, offsetof(order_placed_t, order_id)},
    {"customerId", "customer_id", KIND_STRING, offsetof(order_placed_t, customer_id)},
    {"items", "items", KIND_ITEMS, 0},
    {"currency", "currency", KIND_STRING, offsetof(order_placed_t, currency)},
    {"placedAtMs", "placed_at_ms", KIND_INT64, offsetof(order_placed_t, placed_at_ms)},
    {"attributes", "attributes", KIND_ATTRIBUTES, 0},
};

static const field_spec_t item_fields[] = {
    {"sku", "sku", KIND_STRING, offsetof(line_item_t, sku)},
    {"quantity", "quantity", KIND_INT32, offsetof(line_item_t, quantity)},
    {"unitPrice", "unit_price", KIND_INT64, offsetof(line_item_t, unit_price)},
};

#define NFIELDS(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_FIELDS 8 /* the largest field table above, rounded up */
#define DESCRIBE_MAX 48
#define PREFIX_MAX 64

/* Cuts a string that snprintf truncated in the middle of a UTF-8 sequence
 * back to the last whole character, so that an error message can itself be
 * put into JSON (the gateway's problem details) without failing. */
static void utf8_trim_tail(char *s) {
    size_t len = strlen(s), j = len;
    while (j > 0 && len - j < 3 && ((unsigned char)s[j - 1] & 0xc0) == 0x80) j--;
    if (j == 0) return;
    unsigned char lead = (unsigned char)s[j - 1];
    if (lead < 0xc0) return;
    size_t need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : 2;
    if (len - (j - 1) < need) s[j - 1] = '\0';
}

static int vtextf(char *dst, size_t size, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
static void textf(char *dst, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* vsnprintf into dst[0..size), cut back to whole UTF-8 characters when it
 * did not fit. size 0 leaves dst alone. Returns 1 when the text fit whole. */
static int vtextf(char *dst, size_t size, const char *fmt, va_list ap) {
    if (size == 0) return 0;
    int n = vsnprintf(dst, size, fmt, ap);
    if (n < 0) {
        dst[0] = '\0';
        return 0;
    }
    if ((size_t)n < size) return 1;
    utf8_trim_tail(dst);
    return 0;
}

static void textf(char *dst, size_t size, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vtextf(dst, size, fmt, ap);
    va_end(ap);
}

static const char *reasonf(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* textf() that returns buf, to build a violation's reason in the call. */
static const char *reasonf(char *buf, size_t size, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vtextf(buf, size, fmt, ap);
    va_end(ap);
    return buf;
}

/* Where the schema walk reports violations. With errs NULL (the
 * orderjson_parse_placed() mode) the walk stops at the first one; otherwise
 * it goes on to the end of the document and records every one in errs.
 * Either way the first violation is also written, as one message
 * "<field>: <reason>", into first[0..firstsize). */
typedef struct {
    orderjson_errors *errs;
    char *first;
    size_t firstsize;
    size_t found; /* violations so far */
} collector_t;

/* What one step of the walk tells its caller. The walkers of containers
 * (objects, items, attributes) return WALK_OK or WALK_STOP only: the
 * violations inside are counted in the collector. */
typedef enum {
    WALK_OK = 0,    /* the value was taken */
    WALK_BAD = 1,   /* a violation was recorded: go on with the next field */
    WALK_STOP = -1, /* stop the walk (first-violation mode, or out of memory) */
} walk_t;

#define REASON_MAX 256 /* longest: "line L, column C: " + jansson's 160-byte text */

static walk_t record(collector_t *c, int whole_doc, const char *reason, const char *field_fmt,
                     ...) __attribute__((format(printf, 4, 5)));

/* Records one violation: field (printf-style; ignored when whole_doc, the
 * document itself having no path) and reason. The message in c->first is
 * formatted from the full texts, so it is exactly what a single snprintf of
 * "<field>: <reason>" into that buffer gives; the copies in errs are cut to
 * their arrays' sizes. */
static walk_t record(collector_t *c, int whole_doc, const char *reason, const char *field_fmt,
                     ...) {
    va_list ap;
    if (c->found++ == 0 && c->firstsize > 0) {
        if (whole_doc) {
            textf(c->first, c->firstsize, "%s", reason);
        } else {
            va_start(ap, field_fmt);
            int whole = vtextf(c->first, c->firstsize, field_fmt, ap);
            va_end(ap);
            size_t n = strlen(c->first);
            if (whole) textf(c->first + n, c->firstsize - n, ": %s", reason);
        }
    }
    if (c->errs == NULL) return WALK_STOP;

    orderjson_errors *e = c->errs;
    if (e->count < ORDERJSON_MAX_VIOLATIONS) {
        orderjson_violation *v = &e->v[e->count++];
        v->field[0] = '\0';
        if (!whole_doc) {
            va_start(ap, field_fmt);
            vtextf(v->field, sizeof(v->field), field_fmt, ap);
            va_end(ap);
        }
        textf(v->reason, sizeof(v->reason), "%s", reason);
    }
    e->total++;
    return WALK_BAD;
}

#define violation(c, reason, ...) record((c), 0, (reason), __VA_ARGS__)
#define doc_violation(c, reason) record((c), 1, (reason), "%s", "")

/* Out of memory ends the walk: one violation on the document, whatever the
 * mode, and always the last one in errs->v (over a schema violation if v is
 * full: this one decides the answer). */
static walk_t out_of_memory(collector_t *c) {
    if (c->errs != NULL) {
        c->errs->out_of_memory = 1;
        if (c->errs->count == ORDERJSON_MAX_VIOLATIONS) c->errs->count--;
    }
    doc_violation(c, "out of memory");
    return WALK_STOP;
}

/* A short rendering of v for error messages: scalars as their JSON text
 * (strings quoted, cut to fit buf), containers by type name. Returns buf or a
 * static string. */
static const char *describe(const json_t *v, char *buf, size_t size) {
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_TRUE: return "true";
    case JSON_FALSE: return "false";
    case JSON_NULL: return "null";
    default: break;
    }
    char *text = json_dumps(v, JSON_ENCODE_ANY);
    if (text == NULL) return json_is_string(v) ? "a string" : "a number";
    size_t n = strlen(text);
    if (n < size) {
        memcpy(buf, text, n + 1);
    } else {
        /* Cut before a whole character: the "..." after the cut would hide a
         * split UTF-8 sequence from utf8_trim_tail(). */
        size_t cut = size - 4;
        while (cut > 0 && ((unsigned char)text[cut] & 0xc0) == 0x80) cut--;
        snprintf(buf, size, "%.*s...", (int)cut, text);
    }
    free(text);
    return buf;
}

/* Parses an optional '-' and one or more ASCII digits, nothing else (no
 * spaces, '+', fraction or exponent). Returns 1 with *out set, 0 when s is
 * not such a number, -1 when it is but does not fit in int64. */
static int parse_decimal(const char *s, int64_t *out) {
    int neg = *s == '-';
    if (neg) s++;
    if (*s == '\0') return 0;
    uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    uint64_t v = 0;
    int overflow = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return 0;
        unsigned d = (unsigned)(*s - '0');
        if (overflow || v > (limit - d) / 10)
            overflow = 1; /* keep scanning: "9999...9x" is not a number at all */
        else
            v = v * 10 + d;
    }
    if (overflow) return -1;
    if (neg)
        *out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    else
        *out = (int64_t)v;
    return 1;
}

/* Reads an integer field into *out: a JSON integer, a JSON number without a
 * fractional part (2.0, 1e3) or a string holding a decimal integer, within
 * [min, max]. type_name ("int32", "int64") is for the error message. *out is
 * set only when WALK_OK is returned. */
static walk_t get_integer(collector_t *c, const json_t *v, int64_t min, int64_t max,
                          const char *type_name, const char *prefix, const char *key,
                          int64_t *out) {
    char buf[DESCRIBE_MAX], why[REASON_MAX];
    int64_t x;
    if (json_is_integer(v)) {
        x = json_integer_value(v); /* jansson has already refused anything beyond long long */
    } else if (json_is_real(v)) {
        double d = json_real_value(v);
        /* Outside int64 a double is integral anyway (|d| >= 2^63 > 2^53). */
        if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0)) goto out_of_range;
        x = (int64_t)d;
        if ((double)x != d) goto not_integer;
    } else if (json_is_string(v)) {
        int r = parse_decimal(json_string_value(v), &x);
        if (r == 0) goto not_integer;
        if (r < 0) goto out_of_range;
    } else {
        goto not_integer;
    }
    if (x < min || x > max) goto out_of_range;
    *out = x;
    return WALK_OK;

out_of_range:
    return violation(c,
                     reasonf(why, sizeof(why), "out of range for %s, got %s", type_name,
                             describe(v, buf, sizeof(buf))),
                     "%s%s", prefix, key);
not_integer:
    return violation(c,
                     reasonf(why, sizeof(why),
                             "expected an integer (number or decimal string), got %s",
                             describe(v, buf, sizeof(buf))),
                     "%s%s", prefix, key);
}

static walk_t parse_object(collector_t *c, json_t *obj, const field_spec_t *fields,
                           size_t nfields, void *msg, const char *prefix);

/* items: an array of LineItem objects. Each item is put into msg->items (and
 * counted) before its fields are parsed, so that on any error
 * codec_placed_free() finds everything allocated so far. An element that is
 * not an object is a violation and is skipped (msg is then only good for
 * freeing, which is all that happens to it). */
static walk_t parse_items(collector_t *c, order_placed_t *msg, json_t *arr, const char *key) {
    char buf[DESCRIBE_MAX], why[REASON_MAX];
    if (!json_is_array(arr))
        return violation(c,
                         reasonf(why, sizeof(why), "expected an array, got %s",
                                 describe(arr, buf, sizeof(buf))),
                         "%s", key);
    size_t n = json_array_size(arr);
    if (n == 0) return WALK_OK;
    msg->items = calloc(n, sizeof(*msg->items));
    if (msg->items == NULL) return out_of_memory(c);

    for (size_t i = 0; i < n; i++) {
        json_t *el = json_array_get(arr, i);
        if (!json_is_object(el)) {
            if (violation(c,
                          reasonf(why, sizeof(why), "expected an object, got %s",
                                  describe(el, buf, sizeof(buf))),
                          "%s[%zu]", key, i) == WALK_STOP)
                return WALK_STOP;
            continue;
        }
        line_item_t *item = malloc(sizeof(*item));
        if (item == NULL) return out_of_memory(c);
        line_item_t init = ORDERFLEET__V1__LINE_ITEM__INIT;
        *item = init;
        msg->items[msg->n_items++] = item;

        char prefix[PREFIX_MAX];
        snprintf(prefix, sizeof(prefix), "%s[%zu].", key, i);
        if (parse_object(c, el, item_fields, NFIELDS(item_fields), item, prefix) == WALK_STOP)
            return WALK_STOP;
    }
    return WALK_OK;
}

/* attributes: an object of string values, kept in document order. Same
 * allocation discipline as parse_items(); a value that is not a string is a
 * violation and its entry is skipped. */
static walk_t parse_attributes(collector_t *c, order_placed_t *msg, json_t *obj,
                               const char *key) {
    char buf[DESCRIBE_MAX], why[REASON_MAX];
    if (!json_is_object(obj))
        return violation(c,
                         reasonf(why, sizeof(why), "expected an object, got %s",
                                 describe(obj, buf, sizeof(buf))),
                         "%s", key);
    size_t n = json_object_size(obj);
    if (n == 0) return WALK_OK;
    msg->attributes = calloc(n, sizeof(*msg->attributes));
    if (msg->attributes == NULL) return out_of_memory(c);

    const char *name;
    json_t *value;
    json_object_foreach(obj, name, value) {
        if (!json_is_string(value)) {
            if (violation(c,
                          reasonf(why, sizeof(why), "expected a string, got %s",
                                  describe(value, buf, sizeof(buf))),
                          "%s[\"%s\"]", key, name) == WALK_STOP)
                return WALK_STOP;
            continue;
        }
        Orderfleet__V1__OrderPlaced__AttributesEntry *entry = malloc(sizeof(*entry));
        if (entry == NULL) return out_of_memory(c);
        Orderfleet__V1__OrderPlaced__AttributesEntry init =
            ORDERFLEET__V1__ORDER_PLACED__ATTRIBUTES_ENTRY__INIT;
        *entry = init;
        msg->attributes[msg->n_attributes++] = entry;

        char *k = strdup(name);
        if (k == NULL) return out_of_memory(c);
        entry->key = k;
        char *v = strdup(json_string_value(value));
        if (v == NULL) return out_of_memory(c);
        entry->value = v;
    }
    return WALK_OK;
}

/* Sets one field of msg from a non-null JSON value. */
static walk_t parse_field(collector_t *c, const field_spec_t *spec, const char *key, json_t *v,
                          void *msg, const char *prefix) {
    char buf[DESCRIBE_MAX], why[REASON_MAX];
    char *slot = (char *)msg + spec->offset;
    int64_t x;
    walk_t r;

    switch (spec->kind) {
    case KIND_STRING: {
        if (!json_is_string(v))
            return violation(c,
                             reasonf(why, sizeof(why), "expected a string, got %s",
                                     describe(v, buf, sizeof(buf))),
                             "%s%s", prefix, key);
        char *s = strdup(json_string_value(v));
        if (s == NULL) return out_of_memory(c);
        *(char **)(void *)slot = s; /* was the INIT default: each field is set once */
        return WALK_OK;
    }
    case KIND_INT32:
        r = get_integer(c, v, INT32_MIN, INT32_MAX, "int32", prefix, key, &x);
        if (r != WALK_OK) return r;
        *(int32_t *)(void *)slot = (int32_t)x;
        return WALK_OK;
    case KIND_INT64:
        r = get_integer(c, v, INT64_MIN, INT64_MAX, "int64", prefix, key, &x);
        if (r != WALK_OK) return r;
        *(int64_t *)(void *)slot = x;
        return WALK_OK;
    case KIND_ITEMS: return parse_items(c, msg, v, key);
    case KIND_ATTRIBUTES: return parse_attributes(c, msg, v, key);
    }
    return violation(c, "unsupported field kind", "%s%s", prefix, key);
}

/* Walks the members of obj, in document order (jansson keeps insertion
 * order), against a field table. Unknown members and a field given under
 * both its names are violations (the second spelling's value is then not
 * looked at); null means "default", so the field is left as it is. prefix
 * ("" or "items[3].") starts every path. */
static walk_t parse_object(collector_t *c, json_t *obj, const field_spec_t *fields,
                           size_t nfields, void *msg, const char *prefix) {
    const char *seen_as[MAX_FIELDS] = {NULL};
    const char *key;
    json_t *value;
    char why[REASON_MAX];

    json_object_foreach(obj, key, value) {
        walk_t r;
        size_t f;
        for (f = 0; f < nfields; f++)
            if (strcmp(key, fields[f].json_name) == 0 || strcmp(key, fields[f].proto_name) == 0)
                break;
        if (f == nfields) {
            r = violation(c, "unknown field", "%s%s", prefix, key);
        } else if (seen_as[f]) {
            r = violation(c,
                          reasonf(why, sizeof(why), "field given twice, as \"%s\" and \"%s\"",
                                  seen_as[f], key),
                          "%s%s", prefix, fields[f].json_name);
        } else {
            seen_as[f] = key;
            if (json_is_null(value)) continue;
            r = parse_field(c, &fields[f], key, value, msg, prefix);
        }
        if (r == WALK_STOP) return WALK_STOP;
    }
    return WALK_OK;
}

/* Parses text into a message assembled the way protobuf-c's unpack would
 * have allocated it: the struct, every set string, every repeated array and
 * sub-message malloc'd, unset strings left at protobuf_c_empty_string. So
 * codec_placed_free() frees it, including a half-built one on error. The
 * whole document is loaded by jansson first: cost is linear in its size
 * (plus, per violation, one short message). */
static int parse_placed(const char *text, size_t len, order_placed_t **out, collector_t *c) {
    json_error_t jerr;
    order_placed_t *msg = NULL;
    char buf[DESCRIBE_MAX], why[REASON_MAX];

    *out = NULL;
    if (text == NULL) text = ""; /* jansson refuses a NULL buffer even when len is 0 */
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (root == NULL) {
        /* jansson sets a text for every fault it finds in the input; it
         * leaves it empty when one of its allocations failed (some of its
         * allocation failures read as syntax errors, which cannot be told
         * apart). */
        if (jerr.text[0] == '\0') {
            out_of_memory(c);
            return ORDERJSON_ERR;
        }
        codec_utf8_scrub(jerr.text); /* it quotes the input near the error as raw bytes */
        /* jansson's wording names its own flag here; say what is wrong. */
        if (strstr(jerr.text, "JSON_ALLOW_NUL"))
            snprintf(jerr.text, sizeof(jerr.text), "\\u0000 is not allowed in a string");
        if (jerr.line >= 1)
            reasonf(why, sizeof(why), "line %d, column %d: %s", jerr.line, jerr.column,
                    jerr.text);
        else
            reasonf(why, sizeof(why), "%s", jerr.text);
        if (c->errs != NULL) {
            c->errs->malformed = 1;
            c->errs->line = jerr.line >= 1 ? jerr.line : 0;
            c->errs->column = jerr.line >= 1 ? jerr.column : 0;
        }
        doc_violation(c, why);
        return ORDERJSON_ERR;
    }
    if (!json_is_object(root)) {
        doc_violation(c, reasonf(why, sizeof(why), "expected a JSON object, got %s",
                                 describe(root, buf, sizeof(buf))));
        goto err;
    }

    msg = malloc(sizeof(*msg));
    if (msg == NULL) {
        out_of_memory(c);
        goto err;
    }
    order_placed_t init = ORDERFLEET__V1__ORDER_PLACED__INIT;
    *msg = init;
    if (parse_object(c, root, placed_fields, NFIELDS(placed_fields), msg, "") == WALK_STOP ||
        c->found > 0)
        goto err;

    json_decref(root);
    *out = msg;
    return ORDERJSON_OK;

err:
    codec_placed_free(msg);
    json_decref(root);
    return ORDERJSON_ERR;
}

/* Stops at the first violation, as it always has: the cheapest answer when
 * one message is all the caller shows. */
int orderjson_parse_placed(const char *text, size_t len, order_placed_t **out, char *errstr,
                           size_t errsize) {
    collector_t c = {NULL, errstr, errsize, 0};
    return parse_placed(text, len, out, &c);
}

int orderjson_parse_placed_all(const char *text, size_t len, order_placed_t **out,
                               orderjson_errors *errs) {
    memset(errs, 0, sizeof(*errs));
    collector_t c = {errs, errs->first, sizeof(errs->first), 0};
    return parse_placed(text, len, out, &c);
}

/* ---------------------------------------------------------------- printing */

/* Length of the UTF-8 character at s, or 0 when the bytes there are not one.
 * Valid sequences are prefix-free, so the shortest valid prefix is it. */
static size_t utf8_char_len(const char *s, size_t avail) {
    for (size_t n = 1; n <= 4 && n <= avail; n++)
        if (codec_utf8_valid(s, n)) return n;
    return 0;
}

/* A JSON string for s (NULL reads as ""); bytes that are not UTF-8 become
 * U+FFFD. Returns a new reference, or NULL when out of memory. */
static json_t *jstring(const char *s) {
    if (s == NULL) s = "";
    size_t len = strlen(s);
    if (codec_utf8_valid(s, len)) return json_stringn(s, len);

    char *clean = malloc(len * 3 + 1);
    if (clean == NULL) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        size_t n = utf8_char_len(s + i, len - i);
        if (n > 0) {
            memcpy(clean + o, s + i, n);
            i += n;
            o += n;
        } else {
            memcpy(clean + o, "\xef\xbf\xbd", 3);
            i++;
            o += 3;
        }
    }
    json_t *j = json_stringn(clean, o);
    free(clean);
    return j;
}

/* int64 as a decimal string, as the mapping prints it. */
static json_t *jint64(int64_t v) {
    char buf[24];
    snprintf(buf, sizeof(buf), "%" PRId64, v);
    return json_string(buf);
}

static int nonempty(const char *s) { return s != NULL && *s != '\0'; }

/* Adds key: value to obj, taking over value's reference. A NULL value (a
 * constructor that ran out of memory) makes it fail. Returns 0 or -1. */
static int put(json_t *obj, const char *key, json_t *value) {
    return json_object_set_new(obj, key, value);
}

static json_t *item_to_json(const line_item_t *it) {
    json_t *o = json_object();
    if (o == NULL) return NULL;
    if (nonempty(it->sku) && put(o, "sku", jstring(it->sku))) goto err;
    if (it->quantity != 0 && put(o, "quantity", json_integer(it->quantity))) goto err;
    if (it->unit_price != 0 && put(o, "unitPrice", jint64(it->unit_price))) goto err;
    return o;
err:
    json_decref(o);
    return NULL;
}

static json_t *placed_to_json(const order_placed_t *m) {
    json_t *o = json_object();
    if (o == NULL) return NULL;
    if (put(o, "orderId", jstring(m->order_id))) goto err;
    if (nonempty(m->customer_id) && put(o, "customerId", jstring(m->customer_id))) goto err;
    if (m->n_items > 0) {
        json_t *items = json_array();
        if (put(o, "items", items)) goto err; /* o owns it; the pointer stays usable */
        for (size_t i = 0; i < m->n_items; i++)
            if (json_array_append_new(items, item_to_json(m->items[i]))) goto err;
    }
    if (nonempty(m->currency) && put(o, "currency", jstring(m->currency))) goto err;
    if (m->placed_at_ms != 0 && put(o, "placedAtMs", jint64(m->placed_at_ms))) goto err;
    if (m->n_attributes > 0) {
        json_t *attrs = json_object();
        if (put(o, "attributes", attrs)) goto err;
        /* A repeated key (possible on the wire) keeps its first position and
         * its last value: protobuf's "last one wins" for maps. */
        for (size_t i = 0; i < m->n_attributes; i++) {
            const Orderfleet__V1__OrderPlaced__AttributesEntry *e = m->attributes[i];
            json_t *key = jstring(e->key); /* json keys must be UTF-8 too */
            if (key == NULL) goto err;
            int rc = put(attrs, json_string_value(key), jstring(e->value));
            json_decref(key);
            if (rc) goto err;
        }
    }
    return o;
err:
    json_decref(o);
    return NULL;
}

static json_t *completed_to_json(const order_completed_t *m) {
    json_t *o = json_object();
    if (o == NULL) return NULL;
    const ProtobufCEnumValue *status = protobuf_c_enum_descriptor_get_value(
        &orderfleet__v1__order_status__descriptor, (int)m->status);

    if (put(o, "orderId", jstring(m->order_id))) goto err;
    if (put(o, "status", status ? json_string(status->name) : json_integer((int)m->status)))
        goto err;
    if (nonempty(m->reason) && put(o, "reason", jstring(m->reason))) goto err;
    if (put(o, "subtotal", jint64(m->subtotal))) goto err;
    if (put(o, "tax", jint64(m->tax))) goto err;
    if (put(o, "shipping", jint64(m->shipping))) goto err;
    if (put(o, "total", jint64(m->total))) goto err;
    if (put(o, "currency", jstring(m->currency))) goto err;
    if (m->placed_at_ms != 0 && put(o, "placedAtMs", jint64(m->placed_at_ms))) goto err;
    if (m->completed_at_ms != 0 && put(o, "completedAtMs", jint64(m->completed_at_ms))) goto err;
    if (nonempty(m->worker_id) && put(o, "workerId", jstring(m->worker_id))) goto err;
    if (m->attempts != 0 && put(o, "attempts", json_integer((json_int_t)m->attempts))) goto err;
    return o;
err:
    json_decref(o);
    return NULL;
}

/* Serialises and drops the tree. json_dumps allocates with jansson's
 * allocator, which is malloc unless someone calls json_set_alloc_funcs (no
 * orderfleet program does), hence "free with free()". */
static char *dump(json_t *o) {
    if (o == NULL) return NULL;
    char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    return text;
}

char *orderjson_placed_dump(const order_placed_t *msg) { return dump(placed_to_json(msg)); }

char *orderjson_completed_dump(const order_completed_t *msg) {
    return dump(completed_to_json(msg));
}
