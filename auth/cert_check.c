#include "cert_check.h"

#include <string.h>

int cert_check_load(struct cert_check *cc, const struct config *cfg, char *err, size_t errlen)
{
    struct cert_check next;
    memset(&next, 0, sizeof(next));
    for (size_t i = 0; i < cfg->n_listeners && i < CONFIG_MAX_LISTENERS; i++) {
        const char *path = cfg->listeners[i].tls.revoked;
        if (!cfg->listeners[i].tls.enabled || !path[0])
            continue;
        if (revlist_load(&next.rev[i], path, err, errlen) != 0) {
            cert_check_free(&next);
            return -1;
        }
    }
    cert_check_free(cc);
    *cc = next;
    return 0;
}

void cert_check_free(struct cert_check *cc)
{
    for (size_t i = 0; i < CONFIG_MAX_LISTENERS; i++)
        revlist_free(&cc->rev[i]);
    memset(cc, 0, sizeof(*cc));
}

enum cert_verdict cert_check(const struct cert_check *cc, const struct config *cfg,
                             uint8_t listener, const uint8_t *der, size_t der_len,
                             const uint8_t *client_id, size_t client_id_len, struct cert_fields *f)
{
    memset(f, 0, sizeof(*f));
    if (!der_len)
        return CERTCHK_NONE;
    if (listener >= cfg->n_listeners || !cfg->listeners[listener].tls.enabled ||
        cert_fields_from_der(der, der_len, f) != 0 || !f->cert.cn)
        return CERTCHK_BAD;
    /* With a revocation list, a serial we cannot read cannot be checked: refused. */
    if (cfg->listeners[listener].tls.revoked[0] && !f->cert.serial_hex)
        return CERTCHK_BAD;
    if (f->cert.serial_hex && revlist_contains(&cc->rev[listener], f->cert.serial_hex))
        return CERTCHK_REVOKED;
    if (cfg->listeners[listener].tls.bind_client_id &&
        (strlen(f->cert.cn) != client_id_len || memcmp(f->cert.cn, client_id, client_id_len) != 0))
        return CERTCHK_WRONG_ID;
    return CERTCHK_OK;
}

const char *cert_verdict_str(enum cert_verdict v)
{
    switch (v) {
    case CERTCHK_NONE:
        return "no certificate";
    case CERTCHK_OK:
        return "certificate accepted";
    case CERTCHK_BAD:
        return "certificate unreadable or without a CN";
    case CERTCHK_REVOKED:
        return "certificate revoked";
    case CERTCHK_WRONG_ID:
        return "client id does not match the certificate";
    }
    return "?";
}
