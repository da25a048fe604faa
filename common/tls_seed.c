/* tls_seed: wolfCrypt's DRBG seed from getrandom(2).
 *
 * Debian's wolfSSL is built without HAVE_GETRANDOM, so its wc_GenerateSeed() opens
 * /dev/urandom for every new RNG, and wolfSSL makes one RNG per TLS connection. The worker's
 * sandbox has no open(2) at all. wolfSSL calls wc_GenerateSeed through the PLT, so this
 * definition takes its place: the same kernel entropy source, without a file. This is only the
 * seed; the DRBG and everything above it stay wolfCrypt's. tests/integration/test_tls.py
 * proves the worker makes TLS handshakes under its seccomp filter (an open would kill it). */
#include <errno.h>
#include <sys/random.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/error-crypt.h>
#include <wolfssl/wolfcrypt/random.h>

int wc_GenerateSeed(OS_Seed *os, byte *seed, word32 sz)
{
    (void)os;
    word32 got = 0;
    while (got < sz) {
        ssize_t n = getrandom(seed + got, sz - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return READ_RAN_E;
        got += (word32)n;
    }
    return 0;
}
