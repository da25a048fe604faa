/* fuzz_util: helpers shared by the fuzz harnesses (header-only, one harness per binary).
 *
 * FUZZ_CHECK(cond, ...) reports a broken invariant. It aborts, which AFL++ and libFuzzer
 * record as a crash; a regression test that #includes a harness defines FUZZ_FAIL first to
 * turn it into a cmocka failure instead. A harness returns 0 for every input it survives. */
#ifndef BULWARK_FUZZ_UTIL_H
#define BULWARK_FUZZ_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef FUZZ_FAIL
#define FUZZ_FAIL(...)                                                                             \
    do {                                                                                           \
        fprintf(stderr, "fuzz invariant broken at %s:%d: ", __FILE__, __LINE__);                   \
        fprintf(stderr, __VA_ARGS__);                                                              \
        fputc('\n', stderr);                                                                       \
        abort();                                                                                   \
    } while (0)
#endif

#define FUZZ_CHECK(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond))                                                                               \
            FUZZ_FAIL(__VA_ARGS__);                                                                \
    } while (0)

/* A cursor over the fuzz input; reads past the end yield zeros and set done. */
struct fz {
    const uint8_t *p;
    size_t left;
};

static inline bool fz_done(const struct fz *f)
{
    return f->left == 0;
}

static inline uint8_t fz_u8(struct fz *f)
{
    if (!f->left)
        return 0;
    f->left--;
    return *f->p++;
}

/* Up to n bytes; *got says how many there were. */
static inline const uint8_t *fz_take(struct fz *f, size_t n, size_t *got)
{
    const uint8_t *p = f->p;
    *got = n < f->left ? n : f->left;
    f->p += *got;
    f->left -= *got;
    return p;
}

/* Is [p, p+n) inside [base, base+len)? Used to check that decoded strings point into the
 * decoded buffer. */
static inline bool fz_inside(const uint8_t *base, size_t len, const uint8_t *p, size_t n)
{
    if (n == 0)
        return true;
    if (!p)
        return false;
    uintptr_t b = (uintptr_t)base, q = (uintptr_t)p;
    return q >= b && q - b <= len && n <= len - (q - b);
}

/* Reference UTF-8 check written from the definition (RFC 3629 plus MQTT 3.1.1 section
 * 1.5.3): decode each scalar value and reject overlongs, surrogates, values above
 * U+10FFFF and U+0000. Deliberately unlike the codec's table-driven scanner. */
static inline bool fz_ref_utf8(const uint8_t *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        uint8_t c = s[i];
        size_t n;
        uint32_t cp, min;
        if (c < 0x80) {
            n = 0;
            cp = c;
            min = 0;
        } else if ((c & 0xE0) == 0xC0) {
            n = 1;
            cp = c & 0x1F;
            min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            n = 2;
            cp = c & 0x0F;
            min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            n = 3;
            cp = c & 0x07;
            min = 0x10000;
        } else {
            return false;
        }
        if (len - i - 1 < n)
            return false;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        if (cp < min || cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += n + 1;
    }
    return true;
}

#endif
