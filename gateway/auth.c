#define _POSIX_C_SOURCE 200809L
#include "gateway/auth.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#define KEY_FILE_MAX (4 * 1024 * 1024) /* a key file larger than this is a mistake */
#define HASH_PREFIX "sha256:"

typedef struct auth_key {
    char name[AUTH_NAME_MAX + 1];
    unsigned scopes;
    unsigned char digest[AUTH_DIGEST_LEN];
} auth_key;

struct auth {
    auth_key *keys;
    size_t count, cap;
};

static const struct {
    const char *name;
    unsigned bit;
} scopes[] = {
    {"orders:write", AUTH_SCOPE_ORDERS_WRITE},
    {"orders:read", AUTH_SCOPE_ORDERS_READ},
};
#define N_SCOPES (sizeof(scopes) / sizeof(scopes[0]))

const char *auth_scope_name(unsigned scope) {
    for (size_t i = 0; i < N_SCOPES; i++)
        if (scopes[i].bit == scope) return scopes[i].name;
    return "?";
}

unsigned auth_scope_for(const char *path) {
    static const char orders[] = "/v1/orders";
    if (strcmp(path, orders) == 0) return AUTH_SCOPE_ORDERS_WRITE;
    /* every other path of the versioned API reads: an order, its events,
     * the fleet, and any route added later (closed unless opened here) */
    if (strncmp(path, "/v1/", 4) == 0 || strcmp(path, "/v1") == 0) return AUTH_SCOPE_ORDERS_READ;
    return 0; /* the page, its assets, /healthz, /readyz, unknown paths (404) */
}

int auth_equal(const unsigned char *a, const unsigned char *b, size_t n) {
    return CRYPTO_memcmp(a, b, n) == 0;
}

static int sha256(const char *data, size_t len, unsigned char out[AUTH_DIGEST_LEN]) {
    unsigned int n = 0;
    if (EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) != 1 || n != AUTH_DIGEST_LEN)
        return AUTH_ERR;
    return AUTH_OK;
}

int auth_hash_text(const char *key, size_t len, char out[AUTH_HASH_TEXT_LEN]) {
    unsigned char d[AUTH_DIGEST_LEN];
    if (sha256(key, len, d) != AUTH_OK) return AUTH_ERR;
    memcpy(out, HASH_PREFIX, strlen(HASH_PREFIX));
    for (size_t i = 0; i < AUTH_DIGEST_LEN; i++)
        snprintf(out + strlen(HASH_PREFIX) + 2 * i, 3, "%02x", d[i]);
    return AUTH_OK;
}

/* ---- the key file ------------------------------------------------------- */

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

static int name_char(int c) { return isalnum(c) || c == '-' || c == '_' || c == '.' || c == '@'; }

/* Splits the next whitespace-separated field off *p (within end). */
static int next_field(const char **p, const char *end, const char **f, size_t *flen) {
    const char *s = *p;
    while (s < end && (*s == ' ' || *s == '\t')) s++;
    if (s == end || *s == '#') return 0;
    const char *e = s;
    while (e < end && *e != ' ' && *e != '\t') e++;
    *f = s;
    *flen = (size_t)(e - s);
    *p = e;
    return 1;
}

/* Parses one non-empty, non-comment line into k. Errors go to errstr as
 * "<origin>:<line>: ..."; never the hash or the whole line. */
static int parse_line(const char *s, const char *end, const char *origin, size_t lineno,
                      auth_key *k, char *errstr, size_t errsize) {
    const char *f[4];
    size_t fl[4], n = 0;
    while (n < 4 && next_field(&s, end, &f[n], &fl[n])) n++;
    if (n != 3) {
        snprintf(errstr, errsize,
                 "%s:%zu: expected 3 fields \"<name> <scope>[,<scope>] sha256:<hex>\", got %zu",
                 origin, lineno, n);
        return AUTH_ERR;
    }
    if (fl[0] > AUTH_NAME_MAX) {
        snprintf(errstr, errsize, "%s:%zu: key name longer than %d characters", origin, lineno,
                 AUTH_NAME_MAX);
        return AUTH_ERR;
    }
    for (size_t i = 0; i < fl[0]; i++)
        if (!name_char((unsigned char)f[0][i])) {
            snprintf(errstr, errsize,
                     "%s:%zu: key name \"%.*s\": only letters, digits and - _ . @ are allowed",
                     origin, lineno, (int)fl[0], f[0]);
            return AUTH_ERR;
        }
    memcpy(k->name, f[0], fl[0]);
    k->name[fl[0]] = '\0';

    k->scopes = 0;
    const char *sc = f[1], *send = f[1] + fl[1];
    while (sc <= send) {
        const char *comma = memchr(sc, ',', (size_t)(send - sc));
        const char *e = comma ? comma : send;
        size_t i = 0;
        while (i < N_SCOPES && !(strlen(scopes[i].name) == (size_t)(e - sc) &&
                                 memcmp(scopes[i].name, sc, (size_t)(e - sc)) == 0))
            i++;
        if (i == N_SCOPES) {
            snprintf(errstr, errsize,
                     "%s:%zu: key \"%s\": unknown scope \"%.*s\" (scopes: orders:write, "
                     "orders:read)",
                     origin, lineno, k->name, (int)(e - sc > 64 ? 64 : e - sc), sc);
            return AUTH_ERR;
        }
        k->scopes |= scopes[i].bit;
        if (!comma) break;
        sc = comma + 1;
    }

    size_t plen = strlen(HASH_PREFIX);
    if (fl[2] != plen + 2 * AUTH_DIGEST_LEN || strncmp(f[2], HASH_PREFIX, plen) != 0) {
        snprintf(errstr, errsize,
                 "%s:%zu: key \"%s\": the third field must be sha256: and 64 hex digits "
                 "(order-gateway --hash-key makes it)",
                 origin, lineno, k->name);
        return AUTH_ERR;
    }
    for (size_t i = 0; i < AUTH_DIGEST_LEN; i++) {
        int hi = hexval((unsigned char)f[2][plen + 2 * i]);
        int lo = hexval((unsigned char)f[2][plen + 2 * i + 1]);
        if (hi < 0 || lo < 0) {
            snprintf(errstr, errsize, "%s:%zu: key \"%s\": the hash holds a non-hex character",
                     origin, lineno, k->name);
            return AUTH_ERR;
        }
        k->digest[i] = (unsigned char)(hi << 4 | lo);
    }
    return AUTH_OK;
}

/* Appends k to a, refusing a second key of the same name or hash. */
static int add_key(auth_t *a, const auth_key *k, const char *origin, size_t lineno, char *errstr,
                   size_t errsize) {
    for (size_t i = 0; i < a->count; i++) {
        if (strcmp(a->keys[i].name, k->name) == 0) {
            snprintf(errstr, errsize, "%s:%zu: key name \"%s\" is used twice", origin, lineno,
                     k->name);
            return AUTH_ERR;
        }
        if (memcmp(a->keys[i].digest, k->digest, AUTH_DIGEST_LEN) == 0) {
            snprintf(errstr, errsize, "%s:%zu: key \"%s\" has the same hash as key \"%s\"",
                     origin, lineno, k->name, a->keys[i].name);
            return AUTH_ERR;
        }
    }
    if (a->count == a->cap) {
        size_t cap = a->cap ? 2 * a->cap : 8;
        auth_key *grown = realloc(a->keys, cap * sizeof(*grown));
        if (!grown) {
            snprintf(errstr, errsize, "%s: out of memory", origin);
            return AUTH_ERR;
        }
        a->keys = grown;
        a->cap = cap;
    }
    a->keys[a->count++] = *k;
    return AUTH_OK;
}

auth_t *auth_parse(const char *text, size_t len, const char *origin, char *errstr,
                   size_t errsize) {
    auth_t *a = calloc(1, sizeof(*a));
    if (!a) {
        snprintf(errstr, errsize, "%s: out of memory", origin);
        return NULL;
    }
    const char *p = text, *end = text + len;
    size_t lineno = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        lineno++;
        if (le > p && le[-1] == '\r') le--;
        if (memchr(p, '\0', (size_t)(le - p))) {
            snprintf(errstr, errsize, "%s:%zu: a NUL byte", origin, lineno);
            goto err;
        }
        const char *s = p, *f;
        size_t fl;
        if (next_field(&s, le, &f, &fl)) {
            auth_key k;
            if (parse_line(p, le, origin, lineno, &k, errstr, errsize) != AUTH_OK) goto err;
            if (add_key(a, &k, origin, lineno, errstr, errsize) != AUTH_OK) goto err;
        }
        p = nl ? nl + 1 : end;
    }
    if (a->count == 0) {
        snprintf(errstr, errsize,
                 "%s: no API key in the file (one \"<name> <scope>[,<scope>] sha256:<hex>\" "
                 "per line); to run without keys, leave gateway.api_keys_file empty",
                 origin);
        goto err;
    }
    return a;
err:
    auth_free(a);
    return NULL;
}

auth_t *auth_load(const char *path, char *errstr, size_t errsize) {
    char *buf = NULL;
    size_t len = 0;
    auth_t *a = NULL;
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(errstr, errsize, "%s: cannot open the API key file: %s", path, strerror(errno));
        return NULL;
    }
    if (!(buf = malloc(KEY_FILE_MAX + 1))) {
        snprintf(errstr, errsize, "%s: out of memory", path);
        goto out;
    }
    len = fread(buf, 1, KEY_FILE_MAX + 1, f);
    if (ferror(f)) {
        snprintf(errstr, errsize, "%s: cannot read the API key file: %s", path, strerror(errno));
        goto out;
    }
    if (len > KEY_FILE_MAX) {
        snprintf(errstr, errsize, "%s: API key file larger than %d bytes", path, KEY_FILE_MAX);
        goto out;
    }
    a = auth_parse(buf, len, path, errstr, errsize);
out:
    free(buf);
    fclose(f);
    return a;
}

void auth_free(auth_t *a) {
    if (!a) return;
    free(a->keys);
    free(a);
}

size_t auth_count(const auth_t *a) { return a ? a->count : 0; }

/* ---- requests ----------------------------------------------------------- */

/* Trims blanks around [s, s+n) into *key and *len; 1 when something is left
 * and it is not longer than AUTH_KEY_MAX. */
static int trimmed(const char *s, size_t n, const char **key, size_t *len) {
    while (n && (*s == ' ' || *s == '\t')) s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t')) n--;
    if (n == 0 || n > AUTH_KEY_MAX) return 0;
    *key = s;
    *len = n;
    return 1;
}

int auth_presented(const char *authorization, const char *x_api_key, const char **key,
                   size_t *len) {
    static const char bearer[] = "Bearer";
    if (authorization) {
        const char *s = authorization;
        while (*s == ' ' || *s == '\t') s++;
        size_t bl = sizeof(bearer) - 1;
        if (strncasecmp(s, bearer, bl) == 0 && (s[bl] == ' ' || s[bl] == '\t') &&
            trimmed(s + bl, strlen(s + bl), key, len))
            return 1;
    }
    if (x_api_key && trimmed(x_api_key, strlen(x_api_key), key, len)) return 1;
    return 0;
}

auth_verdict auth_check(const auth_t *a, unsigned need, const char *key, size_t len,
                        const char **name) {
    *name = NULL;
    if (!a || need == 0) return AUTH_ALLOWED;
    if (!key) return AUTH_UNAUTHENTICATED;
    unsigned char d[AUTH_DIGEST_LEN];
    if (sha256(key, len, d) != AUTH_OK) return AUTH_UNAUTHENTICATED;
    const auth_key *found = NULL;
    /* every entry compared, no early exit */
    for (size_t i = 0; i < a->count; i++)
        if (auth_equal(a->keys[i].digest, d, AUTH_DIGEST_LEN)) found = &a->keys[i];
    if (!found) return AUTH_UNAUTHENTICATED;
    *name = found->name;
    return (found->scopes & need) == need ? AUTH_ALLOWED : AUTH_FORBIDDEN;
}
