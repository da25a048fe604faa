#include "base64url.h"

#include <limits.h>
#include <sodium.h>

int b64url_decode(const char *in, size_t in_len, uint8_t *out, size_t cap, size_t *out_len)
{
    size_t bin_len = 0;
    /* With b64_end NULL libsodium refuses the whole text on any foreign byte, padding or
     * non-zero trailing bits, which is the strictness wanted here. */
    if (sodium_base642bin(out, cap, in, in_len, NULL, &bin_len, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
        return -1;
    *out_len = bin_len;
    return 0;
}

int b64url_encode(const uint8_t *in, size_t in_len, char *out, size_t cap)
{
    const int variant = sodium_base64_VARIANT_URLSAFE_NO_PADDING;
    if (in_len > (size_t)INT_MAX / 2)
        return -1;
    size_t need = sodium_base64_encoded_len(in_len, variant);
    if (need > cap)
        return -1;
    sodium_bin2base64(out, cap, in, in_len, variant);
    return (int)(need - 1);
}
