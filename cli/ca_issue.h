/* ca_issue: the commands of `bulwark ca` that make certificates: init, issue, sign and
 * server-cert (docs/CA.md). cli_ca.c parses the command line into struct ca_opts.
 *
 * Promises: everything given on the command line is validated before any key is made or
 * file written; a command that fails leaves the CA directory as it found it (files it
 * created are removed again, the index is replaced only once everything else succeeded). */
#ifndef BULWARK_CA_ISSUE_H
#define BULWARK_CA_ISSUE_H

#include <stdbool.h>
#include <stddef.h>

#define CA_MULTI_MAX 8 /* each repeatable option: --san-uri, --san-dns, --dns, --ip */

struct ca_opts {
    const char *dir, *name, *client_id, *out, *csr, *serial;
    bool ed25519, json;
    long days; /* 0: the command's default */
    const char *san_uri[CA_MULTI_MAX], *san_dns[CA_MULTI_MAX];
    const char *dns[CA_MULTI_MAX], *ip[CA_MULTI_MAX];
    size_t n_san_uri, n_san_dns, n_dns, n_ip;
    const char *target; /* revoke's SERIAL|CLIENT-ID */
};

/* Each returns the exit status: 0 done, 1 refused or failed (message on stderr). */
int ca_cmd_init(const struct ca_opts *o);
int ca_cmd_issue(const struct ca_opts *o);
int ca_cmd_sign(const struct ca_opts *o);
int ca_cmd_server_cert(const struct ca_opts *o);

/* 1..128 bytes of printable ASCII without '/', '+', '#' and without a space at either end:
 * what an MQTT client id used as a certificate CN (and a file name) may hold. */
bool ca_valid_client_id(const char *id);

#endif
