/* cert_check: what the auth daemon decides about a client certificate the worker's TLS layer
 * verified (chain, dates, purpose): is it revoked, and does it belong to the client id.
 *
 * Promises: the revocation lists of all TLS listeners are loaded together or not at all
 * (a reload with a broken list keeps the old ones); a certificate that does not parse is
 * refused, never treated as absent; with bind_client_id the client id must equal the CN
 * byte for byte. */
#ifndef BULWARK_CERT_CHECK_H
#define BULWARK_CERT_CHECK_H

#include <stddef.h>
#include <stdint.h>

#include "cert_fields.h"
#include "config.h"
#include "revlist.h"

struct cert_check {
    struct revlist rev[CONFIG_MAX_LISTENERS];
};

enum cert_verdict {
    CERTCHK_NONE = 0, /* no certificate was presented */
    CERTCHK_OK,
    CERTCHK_BAD,      /* not a certificate, or no usable CN */
    CERTCHK_REVOKED,  /* on the listener's revocation list */
    CERTCHK_WRONG_ID, /* the client id is not the certificate's CN */
};

/* Returns 0, or -1 with err ("FILE:LINE:COLUMN: ...") and *cc untouched. */
int cert_check_load(struct cert_check *cc, const struct config *cfg, char *err, size_t errlen);
void cert_check_free(struct cert_check *cc);
/* Fills *f when a certificate was presented (free it with cert_fields_free when the result
 * is not CERTCHK_NONE). */
enum cert_verdict cert_check(const struct cert_check *cc, const struct config *cfg,
                             uint8_t listener, const uint8_t *der, size_t der_len,
                             const uint8_t *client_id, size_t client_id_len, struct cert_fields *f);
const char *cert_verdict_str(enum cert_verdict v);

#endif
