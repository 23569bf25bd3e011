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

static int fail(char *errstr, size_t errsize, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Writes the message into errstr and returns ORDERJSON_ERR, so that error
 * paths read `return fail(...)`. */
static int fail(char *errstr, size_t errsize, const char *fmt, ...) {
    if (errsize == 0) return ORDERJSON_ERR;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(errstr, errsize, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n >= errsize) utf8_trim_tail(errstr);
    return ORDERJSON_ERR;
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
        snprintf(buf, size, "%.*s...", (int)(size - 4), text);
        utf8_trim_tail(buf);
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
 * [min, max]. type_name ("int32", "int64") is for the error message. */
static int get_integer(const json_t *v, int64_t min, int64_t max, const char *type_name,
                       const char *prefix, const char *key, int64_t *out, char *errstr,
                       size_t errsize) {
    char buf[DESCRIBE_MAX];
    int64_t x;
    if (json_is_integer(v)) {
        x = json_integer_value(v); /* jansson has already refused anything beyond long long */
    } else if (json_is_real(v)) {
        double d = json_real_value(v);
        /* Outside int64 a double is integral anyway (|d| >= 2^63 > 2^53). */
        if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0))
            return fail(errstr, errsize, "%s%s: out of range for %s, got %s", prefix, key,
                        type_name, describe(v, buf, sizeof(buf)));
        x = (int64_t)d;
        if ((double)x != d) goto not_integer;
    } else if (json_is_string(v)) {
        int r = parse_decimal(json_string_value(v), &x);
        if (r == 0) goto not_integer;
        if (r < 0)
            return fail(errstr, errsize, "%s%s: out of range for %s, got %s", prefix, key,
                        type_name, describe(v, buf, sizeof(buf)));
    } else {
        goto not_integer;
    }
    if (x < min || x > max)
        return fail(errstr, errsize, "%s%s: out of range for %s, got %s", prefix, key, type_name,
                    describe(v, buf, sizeof(buf)));
    *out = x;
    return ORDERJSON_OK;

not_integer:
    return fail(errstr, errsize, "%s%s: expected an integer (number or decimal string), got %s",
                prefix, key, describe(v, buf, sizeof(buf)));
}

static int parse_object(json_t *obj, const field_spec_t *fields, size_t nfields, void *msg,
                        const char *prefix, char *errstr, size_t errsize);

/* items: an array of LineItem objects. Each item is put into msg->items (and
 * counted) before its fields are parsed, so that on any error
 * codec_placed_free() finds everything allocated so far. */
static int parse_items(order_placed_t *msg, json_t *arr, const char *key, char *errstr,
                       size_t errsize) {
    char buf[DESCRIBE_MAX];
    if (!json_is_array(arr))
        return fail(errstr, errsize, "%s: expected an array, got %s", key,
                    describe(arr, buf, sizeof(buf)));
    size_t n = json_array_size(arr);
    if (n == 0) return ORDERJSON_OK;
    msg->items = calloc(n, sizeof(*msg->items));
    if (msg->items == NULL) return fail(errstr, errsize, "out of memory");

    for (size_t i = 0; i < n; i++) {
        json_t *el = json_array_get(arr, i);
        if (!json_is_object(el))
            return fail(errstr, errsize, "%s[%zu]: expected an object, got %s", key, i,
                        describe(el, buf, sizeof(buf)));
        line_item_t *item = malloc(sizeof(*item));
        if (item == NULL) return fail(errstr, errsize, "out of memory");
        line_item_t init = ORDERFLEET__V1__LINE_ITEM__INIT;
        *item = init;
        msg->items[msg->n_items++] = item;

        char prefix[PREFIX_MAX];
        snprintf(prefix, sizeof(prefix), "%s[%zu].", key, i);
        if (parse_object(el, item_fields, NFIELDS(item_fields), item, prefix, errstr, errsize) !=
            ORDERJSON_OK)
            return ORDERJSON_ERR;
    }
    return ORDERJSON_OK;
}

/* attributes: an object of string values, kept in document order. Same
 * allocation discipline as parse_items(). */
static int parse_attributes(order_placed_t *msg, json_t *obj, const char *key, char *errstr,
                            size_t errsize) {
    char buf[DESCRIBE_MAX];
    if (!json_is_object(obj))
        return fail(errstr, errsize, "%s: expected an object, got %s", key,
                    describe(obj, buf, sizeof(buf)));
    size_t n = json_object_size(obj);
    if (n == 0) return ORDERJSON_OK;
    msg->attributes = calloc(n, sizeof(*msg->attributes));
    if (msg->attributes == NULL) return fail(errstr, errsize, "out of memory");

    const char *name;
    json_t *value;
    json_object_foreach(obj, name, value) {
        if (!json_is_string(value))
            return fail(errstr, errsize, "%s[\"%s\"]: expected a string, got %s", key, name,
                        describe(value, buf, sizeof(buf)));
        Orderfleet__V1__OrderPlaced__AttributesEntry *entry = malloc(sizeof(*entry));
        if (entry == NULL) return fail(errstr, errsize, "out of memory");
        Orderfleet__V1__OrderPlaced__AttributesEntry init =
            ORDERFLEET__V1__ORDER_PLACED__ATTRIBUTES_ENTRY__INIT;
        *entry = init;
        msg->attributes[msg->n_attributes++] = entry;

        char *k = strdup(name);
        if (k == NULL) return fail(errstr, errsize, "out of memory");
        entry->key = k;
        char *v = strdup(json_string_value(value));
        if (v == NULL) return fail(errstr, errsize, "out of memory");
        entry->value = v;
    }
    return ORDERJSON_OK;
}

/* Sets one field of msg from a non-null JSON value. */
static int parse_field(const field_spec_t *spec, const char *key, json_t *v, void *msg,
                       const char *prefix, char *errstr, size_t errsize) {
    char buf[DESCRIBE_MAX];
    char *slot = (char *)msg + spec->offset;
    int64_t x;

    switch (spec->kind) {
    case KIND_STRING: {
        if (!json_is_string(v))
            return fail(errstr, errsize, "%s%s: expected a string, got %s", prefix, key,
                        describe(v, buf, sizeof(buf)));
        char *s = strdup(json_string_value(v));
        if (s == NULL) return fail(errstr, errsize, "out of memory");
        *(char **)(void *)slot = s; /* was the INIT default: each field is set once */
        return ORDERJSON_OK;
    }
    case KIND_INT32:
        if (get_integer(v, INT32_MIN, INT32_MAX, "int32", prefix, key, &x, errstr, errsize) !=
            ORDERJSON_OK)
            return ORDERJSON_ERR;
        *(int32_t *)(void *)slot = (int32_t)x;
        return ORDERJSON_OK;
    case KIND_INT64:
        if (get_integer(v, INT64_MIN, INT64_MAX, "int64", prefix, key, &x, errstr, errsize) !=
            ORDERJSON_OK)
            return ORDERJSON_ERR;
        *(int64_t *)(void *)slot = x;
        return ORDERJSON_OK;
    case KIND_ITEMS: return parse_items(msg, v, key, errstr, errsize);
    case KIND_ATTRIBUTES: return parse_attributes(msg, v, key, errstr, errsize);
    }
    return fail(errstr, errsize, "%s%s: unsupported field kind", prefix, key);
}

/* Walks the members of obj against a field table. Unknown members and a
 * field given under both its names are errors; null means "default", so the
 * field is left as it is. prefix ("" or "items[3].") starts every path. */
static int parse_object(json_t *obj, const field_spec_t *fields, size_t nfields, void *msg,
                        const char *prefix, char *errstr, size_t errsize) {
    const char *seen_as[MAX_FIELDS] = {NULL};
    const char *key;
    json_t *value;

    json_object_foreach(obj, key, value) {
        size_t f;
        for (f = 0; f < nfields; f++)
            if (strcmp(key, fields[f].json_name) == 0 || strcmp(key, fields[f].proto_name) == 0)
                break;
        if (f == nfields) return fail(errstr, errsize, "%s%s: unknown field", prefix, key);
        if (seen_as[f])
            return fail(errstr, errsize, "%s%s: field given twice, as \"%s\" and \"%s\"", prefix,
                        fields[f].json_name, seen_as[f], key);
        seen_as[f] = key;
        if (json_is_null(value)) continue;
        if (parse_field(&fields[f], key, value, msg, prefix, errstr, errsize) != ORDERJSON_OK)
            return ORDERJSON_ERR;
    }
    return ORDERJSON_OK;
}

/* Parses text into a message assembled the way protobuf-c's unpack would
 * have allocated it: the struct, every set string, every repeated array and
 * sub-message malloc'd, unset strings left at protobuf_c_empty_string. So
 * codec_placed_free() frees it, including a half-built one on error. The
 * whole document is loaded by jansson first: cost is linear in its size. */
int orderjson_parse_placed(const char *text, size_t len, order_placed_t **out, char *errstr,
                           size_t errsize) {
    json_error_t jerr;
    order_placed_t *msg = NULL;
    char buf[DESCRIBE_MAX];

    *out = NULL;
    if (text == NULL) text = ""; /* jansson refuses a NULL buffer even when len is 0 */
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (root == NULL) {
        /* jansson's wording names its own flag here; say what is wrong. */
        if (strstr(jerr.text, "JSON_ALLOW_NUL"))
            snprintf(jerr.text, sizeof(jerr.text), "\\u0000 is not allowed in a string");
        if (jerr.line >= 1)
            return fail(errstr, errsize, "line %d, column %d: %s", jerr.line, jerr.column,
                        jerr.text);
        return fail(errstr, errsize, "%s", jerr.text);
    }
    if (!json_is_object(root)) {
        fail(errstr, errsize, "expected a JSON object, got %s", describe(root, buf, sizeof(buf)));
        goto err;
    }

    msg = malloc(sizeof(*msg));
    if (msg == NULL) {
        fail(errstr, errsize, "out of memory");
        goto err;
    }
    order_placed_t init = ORDERFLEET__V1__ORDER_PLACED__INIT;
    *msg = init;
    if (parse_object(root, placed_fields, NFIELDS(placed_fields), msg, "", errstr, errsize) !=
        ORDERJSON_OK)
        goto err;

    json_decref(root);
    *out = msg;
    return ORDERJSON_OK;

err:
    codec_placed_free(msg);
    json_decref(root);
    return ORDERJSON_ERR;
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
