#include "ca_der.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define TAG_BOOLEAN 0x01
#define TAG_OID 0x06
#define TAG_UTF8 0x0c
#define TAG_SEQUENCE 0x30
#define TAG_SET 0x31
#define TAG_EXTENSIONS 0xa3 /* [3] EXPLICIT in TBSCertificate */

static const uint8_t OID_CN[] = {0x55, 0x04, 0x03};
static const uint8_t OID_O[] = {0x55, 0x04, 0x0a};
static const uint8_t OID_BASIC_CONSTRAINTS[] = {0x55, 0x1d, 0x13};

/* Size of a tag and definite length header for content of n bytes (n < 2^24). */
static size_t hdr_len(size_t n)
{
    if (n < 0x80)
        return 2;
    if (n <= 0xff)
        return 3;
    if (n <= 0xffff)
        return 4;
    return 5;
}

/* Appends tag and length at out[*pos]; false when it does not fit or n is too large. */
static bool put_hdr(uint8_t *out, size_t cap, size_t *pos, uint8_t tag, size_t n)
{
    if (n > 0xffffff)
        return false;
    size_t h = hdr_len(n);
    if (*pos > cap || cap - *pos < h)
        return false;
    uint8_t *p = out + *pos;
    p[0] = tag;
    if (h == 2) {
        p[1] = (uint8_t)n;
    } else {
        p[1] = (uint8_t)(0x80 | (h - 2));
        for (size_t i = 0; i < h - 2; i++)
            p[2 + i] = (uint8_t)(n >> (8 * (h - 3 - i)));
    }
    *pos += h;
    return true;
}

static bool put_bytes(uint8_t *out, size_t cap, size_t *pos, const void *b, size_t n)
{
    if (*pos > cap || cap - *pos < n)
        return false;
    memcpy(out + *pos, b, n);
    *pos += n;
    return true;
}

/* SET { SEQUENCE { OID, UTF8String value } } */
static bool put_rdn(uint8_t *out, size_t cap, size_t *pos, const uint8_t *oid, size_t oid_len,
                    const char *value)
{
    size_t vlen = strlen(value);
    size_t oid_tlv = hdr_len(oid_len) + oid_len;
    size_t val_tlv = hdr_len(vlen) + vlen;
    size_t seq = oid_tlv + val_tlv;
    return put_hdr(out, cap, pos, TAG_SET, hdr_len(seq) + seq) &&
           put_hdr(out, cap, pos, TAG_SEQUENCE, seq) && put_hdr(out, cap, pos, TAG_OID, oid_len) &&
           put_bytes(out, cap, pos, oid, oid_len) && put_hdr(out, cap, pos, TAG_UTF8, vlen) &&
           put_bytes(out, cap, pos, value, vlen);
}

int ca_der_name_content(const char *cn, const char *org, uint8_t *out, size_t cap)
{
    size_t pos = 0;
    if (!cn || strlen(cn) > 0xffff || (org && strlen(org) > 0xffff))
        return -1;
    if (!put_rdn(out, cap, &pos, OID_CN, sizeof(OID_CN), cn))
        return -1;
    if (org && !put_rdn(out, cap, &pos, OID_O, sizeof(OID_O), org))
        return -1;
    return (int)pos;
}

int ca_der_general_names(const struct ca_san *sans, size_t n, uint8_t *out, size_t cap)
{
    if (n == 0)
        return -1;
    size_t content = 0;
    for (size_t i = 0; i < n; i++) {
        if (sans[i].len == 0 || sans[i].len > 0xffff)
            return -1;
        if (sans[i].type == CA_SAN_IP && sans[i].len != 4 && sans[i].len != 16)
            return -1;
        content += hdr_len(sans[i].len) + sans[i].len;
    }
    size_t pos = 0;
    if (!put_hdr(out, cap, &pos, TAG_SEQUENCE, content))
        return -1;
    for (size_t i = 0; i < n; i++) {
        /* context-specific, primitive, IMPLICIT: 0x80 | tag number */
        uint8_t tag = (uint8_t)(0x80 | sans[i].type);
        if (!put_hdr(out, cap, &pos, tag, sans[i].len) ||
            !put_bytes(out, cap, &pos, sans[i].value, sans[i].len))
            return -1;
    }
    return (int)pos;
}

/* One TLV read from in[*pos, end): its tag, the content's offset and length. */
struct tlv {
    uint8_t tag;
    size_t start;   /* of the header */
    size_t content; /* offset of the content */
    size_t len;     /* of the content */
    size_t end;     /* offset just past the content */
};

static bool read_tlv(const uint8_t *in, size_t end, size_t pos, struct tlv *t)
{
    if (pos >= end || end - pos < 2)
        return false;
    t->start = pos;
    t->tag = in[pos++];
    if ((t->tag & 0x1f) == 0x1f)
        return false; /* multi-byte tags do not occur in the parts we walk */
    uint8_t b = in[pos++];
    size_t len = 0;
    if (b < 0x80) {
        len = b;
    } else {
        size_t nb = b & 0x7fu;
        if (nb == 0 || nb > 3 || end - pos < nb)
            return false; /* indefinite or absurd lengths are not DER */
        for (size_t i = 0; i < nb; i++)
            len = (len << 8) | in[pos++];
    }
    if (end - pos < len)
        return false;
    t->content = pos;
    t->len = len;
    t->end = pos + len;
    return true;
}

/* Rewrites one Extension: if it is basicConstraints without a critical flag, adds one.
 * *found is set when it was basicConstraints. */
static bool copy_extension(const uint8_t *in, const struct tlv *ext, uint8_t *out, size_t cap,
                           size_t *pos, bool *found)
{
    struct tlv oid, next;
    if (ext->tag != TAG_SEQUENCE || !read_tlv(in, ext->end, ext->content, &oid) ||
        oid.tag != TAG_OID || !read_tlv(in, ext->end, oid.end, &next))
        return false;
    bool is_bc =
        oid.len == sizeof(OID_BASIC_CONSTRAINTS) &&
        memcmp(in + oid.content, OID_BASIC_CONSTRAINTS, sizeof(OID_BASIC_CONSTRAINTS)) == 0;
    if (!is_bc || next.tag == TAG_BOOLEAN)
        return put_bytes(out, cap, pos, in + ext->start, ext->end - ext->start);
    *found = true;
    static const uint8_t critical[] = {TAG_BOOLEAN, 0x01, 0xff};
    size_t content = ext->len + sizeof(critical);
    return put_hdr(out, cap, pos, TAG_SEQUENCE, content) &&
           put_bytes(out, cap, pos, in + oid.start, oid.end - oid.start) &&
           put_bytes(out, cap, pos, critical, sizeof(critical)) &&
           put_bytes(out, cap, pos, in + oid.end, ext->end - oid.end);
}

int ca_der_bc_critical(const uint8_t *tbs, size_t len, uint8_t *out, size_t cap)
{
    struct tlv top, child, exts, seq, ext = {0};
    if (!read_tlv(tbs, len, 0, &top) || top.tag != TAG_SEQUENCE || top.end != len)
        return -1;
    /* Everything before [3] is copied as is; [3] is the last field of a v3 TBS. */
    size_t p = top.content;
    bool have_exts = false;
    while (p < top.end) {
        if (!read_tlv(tbs, top.end, p, &child))
            return -1;
        if (child.tag == TAG_EXTENSIONS) {
            if (child.end != top.end)
                return -1;
            exts = child;
            have_exts = true;
            break;
        }
        p = child.end;
    }
    if (!have_exts || !read_tlv(tbs, exts.end, exts.content, &seq) || seq.tag != TAG_SEQUENCE ||
        seq.end != exts.end)
        return -1;
    /* The new extension list first, then the headers around it, which grow with it. */
    size_t list_cap = seq.len + 3;
    uint8_t *list = malloc(list_cap);
    if (!list)
        return -1;
    size_t list_len = 0;
    bool found = false, ok = true;
    for (size_t q = seq.content; ok && q < seq.end; q = ext.end) {
        ok = read_tlv(tbs, seq.end, q, &ext) &&
             copy_extension(tbs, &ext, list, list_cap, &list_len, &found);
    }
    size_t prefix = exts.start - top.content;
    size_t seq_tlv = hdr_len(list_len) + list_len;
    size_t exts_tlv = hdr_len(seq_tlv) + seq_tlv;
    size_t body = prefix + exts_tlv;
    size_t pos = 0;
    ok = ok && found && put_hdr(out, cap, &pos, TAG_SEQUENCE, body) &&
         put_bytes(out, cap, &pos, tbs + top.content, prefix) &&
         put_hdr(out, cap, &pos, TAG_EXTENSIONS, seq_tlv) &&
         put_hdr(out, cap, &pos, TAG_SEQUENCE, list_len) &&
         put_bytes(out, cap, &pos, list, list_len);
    free(list);
    if (!ok)
        return -1;
    return (int)pos;
}
