/* auth: order-gateway's API keys (docs/security.md, "API keys").
 *
 * With gateway.api_keys_file set, the API's routes need a key: POST
 * /v1/orders the scope orders:write; GET /v1/orders/{id}, its /events
 * stream and /v1/fleet (every other /v1/ path) the scope orders:read. The
 * page at / and its assets, /healthz and /readyz stay open. A key comes in
 * `Authorization: Bearer <key>` or `X-API-Key: <key>`.
 *
 * The key file holds one key per line, whitespace-separated:
 *
 *     # name   scopes                       hash of the key
 *     shop     orders:write,orders:read     sha256:9f86d081884c7d65...
 *
 * Only SHA-256 digests of keys are stored (order-gateway --hash-key makes
 * the third field from a key on stdin). A presented key is hashed, and its
 * digest compared with every stored one in constant time (CRYPTO_memcmp,
 * no early exit), so the time taken says nothing about how close a guess
 * was. Keys are random strings of high entropy: a plain SHA-256 suffices,
 * no salt or slow hash is needed (unlike passwords). */
#ifndef ORDERFLEET_GATEWAY_AUTH_H
#define ORDERFLEET_GATEWAY_AUTH_H

#include <stddef.h>

#define AUTH_OK 0
#define AUTH_ERR -1

#define AUTH_DIGEST_LEN 32   /* SHA-256 */
#define AUTH_NAME_MAX 64     /* longest key name */
#define AUTH_KEY_MAX 512     /* longest key a client may present */
/* "sha256:" + 64 hex digits + NUL */
#define AUTH_HASH_TEXT_LEN (7 + 2 * AUTH_DIGEST_LEN + 1)

/* Scopes, a bit set. */
#define AUTH_SCOPE_ORDERS_WRITE 0x1u /* "orders:write": POST /v1/orders */
#define AUTH_SCOPE_ORDERS_READ 0x2u  /* "orders:read": GET /v1/orders/{id}, /events, /v1/fleet */

typedef struct auth auth_t;

typedef enum auth_verdict {
    AUTH_ALLOWED,         /* the route is open, or the key has the scope */
    AUTH_UNAUTHENTICATED, /* 401: no key, or a key not in the file */
    AUTH_FORBIDDEN        /* 403: a known key without the scope */
} auth_verdict;

/* Reads the key file at path. Returns NULL with errstr naming the file,
 * line and what is wrong (never a key or a whole line). A file with no key
 * is an error: it would refuse every request, which is never what an
 * operator means. The caller frees the result with auth_free(). */
auth_t *auth_load(const char *path, char *errstr, size_t errsize);

/* As auth_load(), from text (len bytes) that error messages call origin. */
auth_t *auth_parse(const char *text, size_t len, const char *origin, char *errstr,
                   size_t errsize);

void auth_free(auth_t *a);

/* Number of keys. */
size_t auth_count(const auth_t *a);

/* The scopes a request path needs (AUTH_SCOPE_*), 0 for an open path. */
unsigned auth_scope_for(const char *path);

/* The scope's name ("orders:write"), a string literal; "?" for others. */
const char *auth_scope_name(unsigned scope);

/* The key a request presents: the token of an `Authorization: Bearer`
 * header, else the X-API-Key value, leading and trailing blanks removed
 * (either header may be NULL). Returns 1 with *key and *len pointing into one of
 * the headers, 0 when neither holds a key (another scheme, an empty or an
 * overlong value). */
int auth_presented(const char *authorization, const char *x_api_key, const char **key,
                   size_t *len);

/* Decides a request: the scopes it needs (auth_scope_for()) against the
 * key presented (key NULL: none). *name is set to the key's name when one
 * is found (borrowed from a, valid until auth_free()), else NULL. A NULL a
 * (open access) allows everything. Cost: one SHA-256 of the key and a
 * 32-byte constant-time comparison per key in the file. */
auth_verdict auth_check(const auth_t *a, unsigned need, const char *key, size_t len,
                        const char **name);

/* Writes "sha256:<hex>" of key into out (AUTH_HASH_TEXT_LEN bytes): the
 * third field of a key file line. Returns AUTH_ERR when libcrypto fails. */
int auth_hash_text(const char *key, size_t len, char out[AUTH_HASH_TEXT_LEN]);

/* 1 when the n bytes at a and b are equal, in time that depends on n only. */
int auth_equal(const unsigned char *a, const unsigned char *b, size_t n);

#endif
