/* enhanced_auth: MQTT 5 enhanced authentication in the auth daemon (docs/POLICY.md,
 * "Device keys").
 *
 * One method, "bulwark-ed25519": a device proves it holds the Ed25519 private key whose
 * public half is the `device_key` of its user entry in the policy. CONNECT carries the
 * method and the user name; the server answers AUTH (0x18) with a fresh 32-byte nonce; the
 * client answers AUTH (0x18) with the 64-byte signature of
 *     "bulwark-ed25519" 0x00 | nonce | client id
 * and the server accepts (CONNACK 0x00) or refuses (CONNACK 0x86).
 *
 * Promises: every nonce comes from libsodium's randombytes and is used for one verification
 * at most (taken out of the table whether it verifies or not); conversations expire after
 * ttl_ms; the table holds at most max conversations and refuses new ones beyond (no
 * eviction of live ones, so a flood cannot cancel real logins, only be refused);
 * verification is libsodium's crypto_sign_verify_detached. */
#ifndef BULWARK_ENHANCED_AUTH_H
#define BULWARK_ENHANCED_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EAUTH_METHOD "bulwark-ed25519"
#define EAUTH_NONCE_BYTES 32
#define EAUTH_SIG_BYTES 64

struct eauth;

struct eauth *eauth_new(uint32_t max, uint32_t ttl_ms);
void eauth_free(struct eauth *e);
bool eauth_method_known(const uint8_t *method, size_t len);
/* A new challenge for conversation conv (replacing an older one of the same conv). Returns 0
 * with nonce filled, or -1 when the table is full. */
int eauth_challenge(struct eauth *e, uint64_t conv, uint64_t now_ms,
                    uint8_t nonce[EAUTH_NONCE_BYTES]);

enum eauth_result { EAUTH_OK = 0, EAUTH_BAD_SIGNATURE, EAUTH_NO_CHALLENGE };
/* Ends conversation conv: does sig verify under pk (NULL: the user has no device key, which
 * fails the same way) over the message above? */
enum eauth_result eauth_verify(struct eauth *e, uint64_t conv, uint64_t now_ms, const uint8_t *pk,
                               const uint8_t *client_id, size_t client_id_len, const uint8_t *sig,
                               size_t sig_len);
/* The message a client signs (for tests and clients): writes it to out and returns its
 * length, or 0 if cap is too small. */
size_t eauth_message(const uint8_t nonce[EAUTH_NONCE_BYTES], const uint8_t *client_id,
                     size_t client_id_len, uint8_t *out, size_t cap);
size_t eauth_pending(const struct eauth *e);

#endif
