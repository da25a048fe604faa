/* mosq_hash: checks a password against a hash from a Mosquitto password file, so users
 * migrated from Mosquitto keep their passwords (docs/MIGRATION.md).
 *
 * Formats (the text after "user:" in a file written by mosquitto_passwd):
 *   $7$<iterations>$<base64 salt>$<base64 hash>  PBKDF2-HMAC-SHA512, 64-byte hash (Mosquitto 2.x)
 *   $6$<base64 salt>$<base64 hash>               SHA-512 of password || salt (Mosquitto <= 1.6)
 * Base64 is the standard alphabet with padding. Accepted: iterations 1..MOSQ_HASH_MAX_ITERATIONS
 * written as plain decimal digits, salt MOSQ_HASH_SALT_MIN..MOSQ_HASH_SALT_MAX bytes (Mosquitto
 * writes 12), hash exactly 64 bytes, the whole string at most MOSQ_HASH_MAX_LEN bytes. Anything
 * else (other "$N$" schemes, stray characters, surrounding spaces) is malformed.
 *
 * Promises: the comparison is constant-time; derived hashes are wiped before returning; the
 * password is hashed with all its bytes (Mosquitto stops at a NUL byte: a password holding one
 * never matches here). Nothing is allocated. Safe to call from several threads. */
#ifndef BULWARK_MOSQ_HASH_H
#define BULWARK_MOSQ_HASH_H

#include <stddef.h>
#include <stdint.h>

#define MOSQ_HASH_MAX_ITERATIONS 10000000u
#define MOSQ_HASH_SALT_MIN 12u
#define MOSQ_HASH_SALT_MAX 64u
#define MOSQ_HASH_MAX_LEN 512u        /* bytes in the stored string */
#define MOSQ_HASH_MAX_PASSWORD 65535u /* an MQTT 3.1.1 password cannot be longer */

enum mosq_hash_kind {
    MOSQ_HASH_MALFORMED = -1,
    MOSQ_HASH_SHA512 = 6,        /* "$6$" */
    MOSQ_HASH_PBKDF2_SHA512 = 7, /* "$7$" */
};

/* The scheme of stored after checking its whole syntax (without hashing anything). stored
 * may be NULL (malformed). */
enum mosq_hash_kind mosq_hash_kind(const char *stored);

/* 1: pw matches, 0: it does not (also for a password longer than MOSQ_HASH_MAX_PASSWORD),
 * -1: stored is malformed or unsupported, pw is NULL with pwlen > 0, or hashing failed. */
int mosq_hash_verify(const char *stored, const uint8_t *pw, size_t pwlen);

#endif
