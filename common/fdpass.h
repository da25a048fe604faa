/* fdpass: hand a file descriptor to another process over a unix socket (SCM_RIGHTS).
 *
 * Promises: one message = one tag byte + at most one descriptor; the receiver gets the
 * descriptor with O_CLOEXEC set. Used only on the supervisor's control channels. */
#ifndef BULWARK_FDPASS_H
#define BULWARK_FDPASS_H

/* Sends tag and fd (fd < 0: tag only). Returns 0 or -1 (errno). */
int fdpass_send(int sock, char tag, int fd);
/* Receives one message. Returns 1 with *tag and *fd (-1 if none) set, 0 on EOF,
 * -1 on error (errno; EAGAIN when nothing is waiting). */
int fdpass_recv(int sock, char *tag, int *fd);

#endif
