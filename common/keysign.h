/* keysign: the worker asks the auth daemon to sign a TLS handshake hash with a listener's
 * private key, so the key itself never enters the worker (docs/TLS.md).
 *
 * One datagram per message on a SOCK_SEQPACKET pair (all integers big-endian):
 *   request:  u8 version | u8 listener | u32 seq | u8 hash length | hash
 *   response: u8 version | u8 status   | u32 seq | u16 sig length | signature
 *
 * Promises: the decoders are strict (exact length, bounded fields, known version and status)
 * and never read outside their input; a response is only taken for the request it answers
 * (same seq), so a late answer to a request that timed out is skipped, never used. */
#ifndef BULWARK_KEYSIGN_H
#define BULWARK_KEYSIGN_H

#include <stddef.h>
#include <stdint.h>

#define KEYSIGN_VERSION 1
#define KEYSIGN_HASH_MAX 64 /* SHA-512 */
#define KEYSIGN_SIG_MAX 160 /* DER ECDSA P-521 fits */
#define KEYSIGN_REQ_MAX (7 + KEYSIGN_HASH_MAX)
#define KEYSIGN_RESP_MAX (8 + KEYSIGN_SIG_MAX)

enum keysign_status { KEYSIGN_OK = 0, KEYSIGN_ERROR = 1 };

struct keysign_req {
    uint8_t listener;
    uint32_t seq;
    uint8_t hash_len;
    uint8_t hash[KEYSIGN_HASH_MAX];
};

struct keysign_resp {
    uint8_t status; /* enum keysign_status */
    uint32_t seq;
    uint16_t sig_len;
    uint8_t sig[KEYSIGN_SIG_MAX];
};

/* Encoders return the bytes written (cap must be at least *_MAX) or 0 for a bad field. */
size_t keysign_req_encode(const struct keysign_req *r, uint8_t *out, size_t cap);
size_t keysign_resp_encode(const struct keysign_resp *r, uint8_t *out, size_t cap);
/* Decoders return 0 or -1 (malformed). */
int keysign_req_decode(const uint8_t *in, size_t len, struct keysign_req *r);
int keysign_resp_decode(const uint8_t *in, size_t len, struct keysign_resp *r);

/* Worker side: sends the request on fd (blocking, with the receive timeout the supervisor set
 * on the socket) and waits for its answer. Returns 0 with sig/sig_len filled, or -1 (timeout,
 * channel gone, refusal or a malformed answer). */
int keysign_call(int fd, uint8_t listener, const uint8_t *hash, size_t hash_len, uint8_t *sig,
                 size_t *sig_len);

#endif
