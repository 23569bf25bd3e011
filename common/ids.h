/* ids: unique identifiers for orders and events. */
#ifndef ORDERFLEET_IDS_H
#define ORDERFLEET_IDS_H

#include <stddef.h>
#include <stdint.h>

#define ID_UUID_LEN 36 /* "xxxxxxxx-xxxx-7xxx-yxxx-xxxxxxxxxxxx" */

/* Writes a UUIDv7 (RFC 9562: 48-bit ms timestamp, then 74 random bits) into
 * out, NUL-terminated. Time-ordered, so ids sort by creation time and index
 * well, and unique without coordination between producers and gateways. */
void id_uuid7(char out[ID_UUID_LEN + 1]);

/* Fills buf with len bytes from the kernel's CSPRNG (getrandom). */
void id_random_bytes(void *buf, size_t len);

#endif
