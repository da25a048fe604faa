#include "credentials.h"

#include <sodium.h>
#include <string.h>

#include "log.h"

static char dummy_hash[crypto_pwhash_STRBYTES];

int credentials_init(void)
{
    if (sodium_init() < 0) return -1;
    char pw[16];
    randombytes_buf(pw, sizeof(pw));
    if (crypto_pwhash_str(dummy_hash, pw, sizeof(pw), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
        return -1;
    sodium_memzero(pw, sizeof(pw));
    return 0;
}

bool credentials_check(const struct config *cfg, const uint8_t *user, size_t user_len,
                       const uint8_t *pass, size_t pass_len)
{
    const char *hash = dummy_hash;
    bool known = false;
    for (size_t i = 0; i < cfg->n_users; i++) {
        const char *u = cfg->users[i].username;
        if (strlen(u) == user_len && memcmp(u, user, user_len) == 0) {
            hash = cfg->users[i].password_hash;
            known = true;
            break;
        }
    }
    /* crypto_pwhash_str_verify wants a C string: copy into a bounded, wiped buffer. */
    char pw[65536 + 1];
    memcpy(pw, pass, pass_len);
    pw[pass_len] = '\0';
    bool ok = crypto_pwhash_str_verify(hash, pw, pass_len) == 0;
    sodium_memzero(pw, pass_len + 1);
    return ok && known;
}

bool credentials_known(const struct config *cfg, const uint8_t *user, size_t user_len)
{
    for (size_t i = 0; i < cfg->n_users; i++) {
        const char *u = cfg->users[i].username;
        if (strlen(u) == user_len && memcmp(u, user, user_len) == 0)
            return true;
    }
    return false;
}
