/* tls: TLS termination in the worker with wolfSSL (docs/TLS.md).
 *
 * Promises:
 *  - Everything a TLS listener needs from the file system (certificate chain, client CA) is
 *    read by tls_setup() before the sandbox closes; the server's private key is never read
 *    here: wolfSSL holds only a reference to it, and each handshake signature is made by the
 *    auth daemon over the key channel (common/keysign.h).
 *  - Non-blocking and driven by the worker's epoll loop; wolfSSL reads and writes the socket
 *    with read(2)/write(2) only (the worker's seccomp filter has no recv/send).
 *  - TLS 1.0 and 1.1 are refused; the minimum is per listener (1.2 default); ALPN "mqtt" is
 *    offered, a client's SNI accepted, sessions resume (TLS 1.2 cache, TLS 1.3 tickets).
 *  - A refused client certificate is reported to the auth daemon for the audit log.
 */
#ifndef BULWARK_TLS_H
#define BULWARK_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "broker.h"

/* Before the sandbox: a server context for every TLS listener of cfg. Returns 0 or -1 with
 * err naming the listener and file. */
int tls_setup(struct worker *w, const struct config *cfg, int key_fd, char *err, size_t errlen);
void tls_teardown(struct worker *w);
/* A new key channel (the auth daemon restarted). */
void tls_set_key_channel(int fd);

/* On accept: c speaks TLS on listener index idx. Returns 0 or -1. */
int tls_conn_attach(struct worker *w, struct conn *c, size_t idx);
void tls_conn_free(struct worker *w, struct conn *c);
/* Best-effort close_notify before the socket closes. */
void tls_close_notify(struct conn *c);

/* Drives the handshake, then reads plaintext into buf. Returns bytes read (> 0), 0 when
 * nothing is available now, or -1 when the connection was closed (c is CS_CLOSED). */
ssize_t tls_read(struct worker *w, struct conn *c, uint8_t *buf, size_t cap);
/* conn_flush for a TLS connection. */
int tls_flush(struct worker *w, struct conn *c);
bool tls_wants_write(const struct conn *c);
/* Reading may go on: plaintext wolfSSL already decrypted raises no epoll event, so the
 * connection is queued for tls_run_kicks(). */
void tls_reading_resumed(struct worker *w, struct conn *c);
/* Reads what the queued connections hold (from the end of each loop turn). */
void tls_run_kicks(struct worker *w, void (*on_readable)(struct worker *, struct conn *));
bool tls_handshake_done(const struct conn *c);
/* DER of the verified client certificate, NULL without one. */
const uint8_t *tls_peer_cert(const struct conn *c, uint16_t *len);

#endif
