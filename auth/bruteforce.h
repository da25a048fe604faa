/* bruteforce: throttles failed authentication per source address and per username.
 *
 * Promises: after `free_failures` failures of one key (an address, or a username) within
 * `window_s`, every further failure doubles that key's lock-out, from base_delay_ms up to
 * max_delay_ms; while a key is locked out, attempts are refused without verifying anything
 * (no argon2id run for an attacker). A success clears the username's record (not the
 * address's: one right password must not unlock an address that is guessing others).
 * At most max_tracked keys are remembered: expired ones go first, then the oldest. */
#ifndef BULWARK_BRUTEFORCE_H
#define BULWARK_BRUTEFORCE_H

#include <stddef.h>
#include <stdint.h>

struct bf_config {
    uint32_t free_failures; /* failures allowed before lock-outs start */
    uint32_t base_delay_ms;
    uint32_t max_delay_ms;
    uint32_t window_s;    /* a key with no failure for this long is forgotten */
    uint32_t max_tracked; /* keys remembered at most */
};

struct bruteforce;

struct bruteforce *bf_new(const struct bf_config *cfg);
void bf_free(struct bruteforce *bf);
/* Milliseconds until an attempt from peer (as "address:port" or "[v6]:port") for user
 * (may be NULL) may be verified; 0 = now. */
uint64_t bf_check(struct bruteforce *bf, const char *peer, const uint8_t *user, size_t ulen,
                  uint64_t now_ms);
void bf_failure(struct bruteforce *bf, const char *peer, const uint8_t *user, size_t ulen,
                uint64_t now_ms);
void bf_success(struct bruteforce *bf, const uint8_t *user, size_t ulen);
size_t bf_tracked(const struct bruteforce *bf);

#endif
