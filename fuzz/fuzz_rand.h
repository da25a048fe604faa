/* fuzz_rand: a deterministic getrandom() for harnesses of code that seeds hash keys and
 * client ids from the kernel (topic_tree, protocol). The same input must take the same
 * path every time, or AFL++ sees unstable edges and a crash may not reproduce in triage.
 * Defining the symbol in the harness binary overrides libc's (and the sanitizer's weak
 * interceptor); include this from exactly one file of a harness. Never for production. */
#ifndef BULWARK_FUZZ_RAND_H
#define BULWARK_FUZZ_RAND_H

#include <stddef.h>
#include <stdint.h>
#include <sys/random.h>
#include <sys/types.h>

static uint64_t fz_rand_state;

/* Called at the start of every input. */
static void fz_rand_reset(void)
{
    fz_rand_state = 0x243F6A8885A308D3ull;
}

ssize_t getrandom(void *buf, size_t len, unsigned int flags)
{
    (void)flags;
    uint8_t *b = buf;
    for (size_t i = 0; i < len; i++) {
        /* splitmix64, one byte per step: plenty for hash keys in a fuzzer. */
        uint64_t z = (fz_rand_state += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        b[i] = (uint8_t)(z ^ (z >> 31));
    }
    return (ssize_t)len;
}

#endif
