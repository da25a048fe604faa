/* Mosquitto password hashes (auth/mosq_hash.h). The vectors marked "mosquitto_passwd" were
 * written by Debian's mosquitto_passwd 2.0.11 (-H sha512 for "$6$"); the others were computed
 * independently (Python hashlib) to reach edge cases the tool never writes. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mosq_hash.h"
#include "policy.h"

#define PW(s) (const uint8_t *)(s), strlen(s)

/* mosquitto_passwd: alice / "correct horse" */
static const char ALICE[] =
    "$7$101$FNntHbgFhJOEDzhI$ae5uaN5gV+OP6jVmP/S3M6kJlvLNNWsLm/ZFtFIot9Hf2qbgdNz3"
    "yg6Uet1TeQan569TpK+OHNTQGmSL8epCzw==";
/* mosquitto_passwd: the empty password */
static const char EMPTY[] =
    "$7$101$Q2xtHEl9zSHETwZh$7AraX1Q74db1yl/BX9iNJ9Oe/TF+hKPiIA8Z6dhBO9Jt2cJdd"
    "6lr9EXNLd162hZ0iwUNuNrMSX6WvMiqIOt6zA==";
/* mosquitto_passwd: "pässwörd€" in UTF-8 */
static const char UTF[] =
    "$7$101$/VV4+KPWAqqas286$Vi20GSSPMiTjmzpkTY6nc/YYs+VyW06vC/q8ksOp2jMpQ3GdiN"
    "D3Mx4V2KJ094eHCHJ99eAKvv/wtt22Cxd/3Q==";
/* mosquitto_passwd -H sha512: "legacy pw" */
static const char OLD[] =
    "$6$gMe/IcuULD1PjyPx$ZRXnxECgSI/uXdT3pAwwZO05tsIt4afoHfi/R15dqrUirpSohaIwG8"
    "TEuIPPBfoRwFeH4vzVi6xqEk2v6Yfr+Q==";
/* 1 iteration, salt 01..0c, password "ab\0cd" (5 bytes) */
static const char NUL7[] =
    "$7$1$AQIDBAUGBwgJCgsM$DnKAw7xJt8QZw64x50Yl73d/uYXhklU4dstcfAxRhjqDcnDOGgyAk"
    "EMlE2bbKGpUrehhNi1Vdm6StBquqIXvbg==";
/* 1000 iterations, a 64-byte salt 00..3f (the maximum), password "x" */
static const char SALT64[] =
    "$7$1000$AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMD"
    "EyMzQ1Njc4OTo7PD0+Pw==$JrtMcAode8JqeCJXlgOC4UTlha3nNj3uqQ/JJ6PC6gYpLRgQmHB5"
    "tmiJyX/S+O7hC9ZhAHGIPowY1zgDyJqjoQ==";
/* "$6$", salt 01..0c, password "p\0q" */
static const char NUL6[] =
    "$6$AQIDBAUGBwgJCgsM$oSe24mbyYBBsttpYPqUADy+KobLzGD//sUbnUyl7kgb/KLQ7js41Dw88"
    "75WQUnmsQ6GtFiiCNIea4QyOqZMkng==";
/* 2 iterations, salt 01..0c, password bytes i % 256 for i < 65535 (the MQTT maximum) */
static const char MAXPW[] =
    "$7$2$AQIDBAUGBwgJCgsM$G69lF/cWZsgDa4d485P/Sqy9cU8s9JTCjCHrQ0DXN1qpfB+avepaJ"
    "s/6dsFNHgZGTUqY4UM8xfWZZQ5+UofjXQ==";
/* 1 iteration, salt 01..0c, password bytes i % 256 for i < 65536: one byte too long for MQTT */
static const char TOOLONG[] =
    "$7$1$AQIDBAUGBwgJCgsM$1/d6LkjSeE3Vib2RqzuCFPbQi4t8+OIukx3DdGKTxZN6zaj3ztV5"
    "JpURcpY6DQLhXemaLm4FZwJAc2q93eNbSw==";
/* ALICE with the last bit of the last hash byte flipped */
static const char ALICE_LAST[] =
    "$7$101$FNntHbgFhJOEDzhI$ae5uaN5gV+OP6jVmP/S3M6kJlvLNNWsLm/ZFtFIot9Hf2"
    "qbgdNz3yg6Uet1TeQan569TpK+OHNTQGmSL8epCzg==";

static void real_pbkdf2_hashes(void **state)
{
    (void)state;
    assert_int_equal(mosq_hash_verify(ALICE, PW("correct horse")), 1);
    assert_int_equal(mosq_hash_verify(ALICE, PW("correct hors")), 0);
    assert_int_equal(mosq_hash_verify(ALICE, PW("correct horsee")), 0);
    assert_int_equal(mosq_hash_verify(ALICE, PW("Correct horse")), 0);
    assert_int_equal(mosq_hash_verify(ALICE, NULL, 0), 0);
    assert_int_equal(mosq_hash_verify(EMPTY, NULL, 0), 1);
    assert_int_equal(mosq_hash_verify(EMPTY, PW("")), 1);
    assert_int_equal(mosq_hash_verify(EMPTY, PW(" ")), 0);
    assert_int_equal(mosq_hash_verify(UTF, PW("p\xc3\xa4ssw\xc3\xb6rd\xe2\x82\xac")), 1);
    assert_int_equal(mosq_hash_verify(UTF, PW("passwoerd")), 0);
    assert_int_equal(mosq_hash_kind(ALICE), MOSQ_HASH_PBKDF2_SHA512);
    /* All 64 bytes are compared. */
    assert_int_equal(mosq_hash_kind(ALICE_LAST), MOSQ_HASH_PBKDF2_SHA512);
    assert_int_equal(mosq_hash_verify(ALICE_LAST, PW("correct horse")), 0);
}

static void real_sha512_hash(void **state)
{
    (void)state;
    assert_int_equal(mosq_hash_kind(OLD), MOSQ_HASH_SHA512);
    assert_int_equal(mosq_hash_verify(OLD, PW("legacy pw")), 1);
    assert_int_equal(mosq_hash_verify(OLD, PW("legacy p")), 0);
    assert_int_equal(mosq_hash_verify(OLD, PW("")), 0);
}

/* Every password byte counts, NUL included: Mosquitto's own check would stop at the NUL. */
static void password_bytes_after_nul_count(void **state)
{
    (void)state;
    assert_int_equal(mosq_hash_verify(NUL7, (const uint8_t *)"ab\0cd", 5), 1);
    assert_int_equal(mosq_hash_verify(NUL7, (const uint8_t *)"ab\0ce", 5), 0);
    assert_int_equal(mosq_hash_verify(NUL7, (const uint8_t *)"ab", 2), 0);
    assert_int_equal(mosq_hash_verify(NUL6, (const uint8_t *)"p\0q", 3), 1);
    assert_int_equal(mosq_hash_verify(NUL6, (const uint8_t *)"p", 1), 0);
}

static void bounds_that_are_accepted(void **state)
{
    (void)state;
    assert_int_equal(mosq_hash_verify(SALT64, PW("x")), 1);
    assert_int_equal(mosq_hash_verify(SALT64, PW("y")), 0);
    uint8_t *pw = malloc(MOSQ_HASH_MAX_PASSWORD + 1);
    assert_non_null(pw);
    for (size_t i = 0; i <= MOSQ_HASH_MAX_PASSWORD; i++)
        pw[i] = (uint8_t)i;
    assert_int_equal(mosq_hash_verify(MAXPW, pw, MOSQ_HASH_MAX_PASSWORD), 1);
    /* One byte more than MQTT can carry: never a match, even against its own hash. */
    assert_int_equal(mosq_hash_verify(TOOLONG, pw, MOSQ_HASH_MAX_PASSWORD + 1), 0);
    assert_int_equal(mosq_hash_verify(MAXPW, pw, MOSQ_HASH_MAX_PASSWORD + 1), 0);
    free(pw);
    /* The iteration bound itself is accepted (checked without running 10^7 rounds). */
    char s[sizeof(ALICE) + 8];
    snprintf(s, sizeof(s), "$7$10000000$%s", ALICE + strlen("$7$101$"));
    assert_int_equal(mosq_hash_kind(s), MOSQ_HASH_PBKDF2_SHA512);
}

/* stored with its iteration field replaced. */
static void with_iterations(char *out, size_t cap, const char *iter)
{
    snprintf(out, cap, "$7$%s$%s", iter, ALICE + strlen("$7$101$"));
}

static void bad_iterations(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "0",    "10000001", "99999999", "4294967297", "99999999999999999999",
        "+101", "-101",     "0101",     " 101",       "101 ",
        "1e3",  "0x65",     "",
    };
    char s[512];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        with_iterations(s, sizeof(s), bad[i]);
        assert_int_equal(mosq_hash_kind(s), MOSQ_HASH_MALFORMED);
        assert_int_equal(mosq_hash_verify(s, PW("correct horse")), -1);
    }
    with_iterations(s, sizeof(s), "1");
    assert_int_equal(mosq_hash_kind(s), MOSQ_HASH_PBKDF2_SHA512);
    /* Changing the iterations changes the result: the field is really used. */
    assert_int_equal(mosq_hash_verify(s, PW("correct horse")), 0);
    with_iterations(s, sizeof(s), "100");
    assert_int_equal(mosq_hash_verify(s, PW("correct horse")), 0);
}

static void malformed_strings(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "$",
        "$7$",
        "$7$101$",
        "$7$101$FNntHbgFhJOEDzhI$",
        "$7$101$$ae5uaN5gV+OP6jVmP/S3M6kJlvLNNWsLm/ZFtFIot9Hf2qbgdNz3yg6Uet1TeQan569TpK+OHNTQGmSL8e"
        "pCzw==",
        /* the "$6$" layout under "$7$" and the other way round */
        "$7$gMe/IcuULD1PjyPx$ZRXnxECgSI/uXdT3pAwwZO05tsIt4afoHfi/R15dqrUirpSohaIwG8TEuIPPBfoRwFeH"
        "4vzVi6xqEk2v6Yfr+Q==",
        "$6$101$FNntHbgFhJOEDzhI$ae5uaN5gV+OP6jVmP/S3M6kJlvLNNWsLm/ZFtFIot9Hf2qbgdNz3yg6Uet1TeQan"
        "569TpK+OHNTQGmSL8epCzw==",
        /* trailing field, trailing space, leading space, a newline */
        "$7$101$FNntHbgFhJOEDzhI$ae5uaN5gV+OP6jVmP/S3M6kJlvLNNWsLm/ZFtFIot9Hf2qbgdNz3yg6Uet1TeQan5"
        "69TpK+OHNTQGmSL8epCzw==$",
        "$7$101$FNntHbgFhJOEDzhI$ae5uaN5gV+OP6jVmP/S3M6kJlvLNNWsLm/ZFtFIot9Hf2qbgdNz3yg6Uet1TeQan5"
        "69TpK+OHNTQGmSL8epCzw== ",
        " $7$101$FNntHbgFhJOEDzhI$ae5uaN5gV+OP6jVmP/S3M6kJlvLNNWsLm/ZFtFIot9Hf2qbgdNz3yg6Uet1TeQan"
        "569TpK+OHNTQGmSL8epCzw==",
        "$7$101$FNntHbgFhJOEDzhI$ae5uaN5gV+OP6jVmP/S3M6kJlvLNNWsLm/ZFtFIot9Hf2qbgdNz3yg6Uet1TeQan5"
        "69TpK+OHNTQGmSL8epCzw==\n",
        /* hash: padding missing, 63 bytes, 65 bytes, URL-safe alphabet, a non-zero pad bit */
        "$7$101$FNntHbgFhJOEDzhI$ae5uaN5gV+OP6jVmP/S3M6kJlvLNNWsLm/ZFtFIot9Hf2qbgdNz3yg6Uet1TeQan5"
        "69TpK+OHNTQGmSL8epCzw",
        "$7$101$FNntHbgFhJOEDzhI$ae5uaN5gV+OP6jVmP/S3M6kJlvLNNWsLm/ZFtFIot9Hf2qbgdNz3yg6Uet1TeQan5"
        "69TpK+OHNTQGmSL8epC",
        "$7$101$FNntHbgFhJOEDzhI$ae5uaN5gV+OP6jVmP/S3M6kJlvLNNWsLm/ZFtFIot9Hf2qbgdNz3yg6Uet1TeQan5"
        "69TpK+OHNTQGmSL8epCzwE=",
        "$7$101$FNntHbgFhJOEDzhI$ae5uaN5gV-OP6jVmP_S3M6kJlvLNNWsLm_ZFtFIot9Hf2qbgdNz3yg6Uet1TeQan5"
        "69TpK-OHNTQGmSL8epCzw==",
        "$7$101$FNntHbgFhJOEDzhI$ae5uaN5gV+OP6jVmP/S3M6kJlvLNNWsLm/ZFtFIot9Hf2qbgdNz3yg6Uet1TeQan5"
        "69TpK+OHNTQGmSL8epCzx==",
        /* salt: 9 and 11 bytes (below 12), 65 bytes (above 64), a character outside base64 */
        "$7$101$AQIDBAUGBwgJCgs=$ae5uaN5gV+OP6jVmP/S3M6kJlvLNNWsLm/ZFtFIot9Hf2qbgdNz3yg6Uet1TeQan5"
        "69TpK+OHNTQGmSL8epCzw==",
        "$7$101$FNntHbgFhJOE$ae5uaN5gV+OP6jVmP/S3M6kJlvLNNWsLm/ZFtFIot9Hf2qbgdNz3yg6Uet1TeQan569T"
        "pK+OHNTQGmSL8epCzw==",
        "$7$101$AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD"
        "0+P0A=$ae5uaN5gV+OP6jVmP/S3M6kJlvLNNWsLm/ZFtFIot9Hf2qbgdNz3yg6Uet1TeQan569TpK+OHNTQGmSL8e"
        "pCzw==",
        "$7$101$FNntHbgFhJOE*zhI$ae5uaN5gV+OP6jVmP/S3M6kJlvLNNWsLm/ZFtFIot9Hf2qbgdNz3yg6Uet1TeQan5"
        "69TpK+OHNTQGmSL8epCzw==",
        /* other schemes */
        "$5$FNntHbgFhJOEDzhI$ae5uaN5gV+OP6jVmP/S3M6kJlvLNNWsLm/ZFtFIot9Hf2qbgdNz3yg6Uet1TeQan569T"
        "pK+OHNTQGmSL8epCzw==",
        "$argon2id$v=19$m=65536,t=2,p=1$lc+1s9arPZd69IZor498rw$+xfb8/WTMz8vDswCfORSoyFvFclCS3UYg0e"
        "Y6MRe39w",
        "$77$101$FNntHbgFhJOEDzhI$ae5uaN5gV+OP6jVmP/S3M6kJlvLNNWsLm/ZFtFIot9Hf2qbgdNz3yg6Uet1TeQan"
        "569TpK+OHNTQGmSL8epCzw==",
        "correct horse",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(mosq_hash_kind(bad[i]), MOSQ_HASH_MALFORMED);
        assert_int_equal(mosq_hash_verify(bad[i], PW("correct horse")), -1);
    }
    assert_int_equal(mosq_hash_kind(NULL), MOSQ_HASH_MALFORMED);
    assert_int_equal(mosq_hash_verify(NULL, PW("x")), -1);
    assert_int_equal(mosq_hash_verify(ALICE, NULL, 3), -1);
}

static void overlong_string(void **state)
{
    (void)state;
    /* A valid hash padded with '$'-free junk past the length bound is never even parsed. */
    char *s = malloc(MOSQ_HASH_MAX_LEN + 64);
    assert_non_null(s);
    size_t n = strlen(ALICE);
    memcpy(s, ALICE, n);
    memset(s + n, 'A', MOSQ_HASH_MAX_LEN + 8 - n);
    s[MOSQ_HASH_MAX_LEN + 8] = '\0';
    assert_int_equal(mosq_hash_kind(s), MOSQ_HASH_MALFORMED);
    assert_int_equal(mosq_hash_verify(s, PW("correct horse")), -1);
    free(s);
}

/* The hash as `bulwark import mosquitto` writes it into a policy comes back verbatim from
 * the policy engine and still verifies. */
static void hash_survives_a_policy(void **state)
{
    (void)state;
    char path[] = "/tmp/test_mosq_hash_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    fprintf(f, "version: 1\nusers:\n  - name: \"alice\"\n    password: \"%s\"\nrules: []\n", ALICE);
    fclose(f);
    char err[1024] = "";
    struct policy *p = policy_load(path, err, sizeof(err));
    unlink(path);
    if (!p)
        fail_msg("policy_load: %s", err);
    const char *h = policy_user_password_hash(p, "alice", 5);
    assert_non_null(h);
    assert_string_equal(h, ALICE);
    assert_int_equal(mosq_hash_verify(h, PW("correct horse")), 1);
    assert_int_equal(mosq_hash_verify(h, PW("wrong")), 0);
    policy_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(real_pbkdf2_hashes),
        cmocka_unit_test(real_sha512_hash),
        cmocka_unit_test(password_bytes_after_nul_count),
        cmocka_unit_test(bounds_that_are_accepted),
        cmocka_unit_test(bad_iterations),
        cmocka_unit_test(malformed_strings),
        cmocka_unit_test(overlong_string),
        cmocka_unit_test(hash_survives_a_policy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
