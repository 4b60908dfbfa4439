/* SHA-1 and base64, only so the test WebSocket client can check Sec-WebSocket-Accept
 * (libsodium has no SHA-1). Test code: not for anything that needs to be secure. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#define DIGEST_SHA1_LEN 20

/* Writes the SHA-1 of data into out. */
void digest_sha1(const void *data, size_t len, uint8_t out[DIGEST_SHA1_LEN]);

/* Writes data as padded base64 and a NUL into out, which needs 4 * ((len + 2) / 3) + 1 bytes.
 * Returns the length written, without the NUL. */
size_t digest_base64(const void *data, size_t len, char *out);
