#include "cli_passwd.h"

#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#define PW_MAX 1024

/* Reads one line into buf without its newline. Returns its length or -1. */
static long read_line(const char *prompt, char *buf, size_t cap)
{
    bool tty = isatty(STDIN_FILENO);
    struct termios old, quiet;
    if (tty) {
        fprintf(stderr, "%s", prompt);
        tcgetattr(STDIN_FILENO, &old);
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    }
    char *got = fgets(buf, (int)cap, stdin);
    if (tty) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
        fprintf(stderr, "\n");
    }
    if (!got) return -1;
    size_t n = strlen(buf);
    if (n && buf[n - 1] == '\n')
        buf[--n] = '\0';
    else if (n == cap - 1 && !feof(stdin))
        return -2; /* longer than the buffer */
    if (n && buf[n - 1] == '\r') buf[--n] = '\0';
    return (long)n;
}

int cli_passwd(int argc, char **argv)
{
    (void)argv;
    if (argc != 1) {
        fprintf(stderr, "usage: bulwark passwd   (reads the password from standard input)\n");
        return 2;
    }
    if (sodium_init() < 0) {
        fprintf(stderr, "bulwark passwd: libsodium failed to initialise\n");
        return 1;
    }
    char pw[PW_MAX + 2], again[PW_MAX + 2];
    long n = read_line("Password: ", pw, sizeof(pw));
    int rc = 1;
    if (n == -2) {
        fprintf(stderr, "bulwark passwd: password longer than %d bytes\n", PW_MAX);
    } else if (n <= 0) {
        fprintf(stderr, "bulwark passwd: empty password refused\n");
    } else if (isatty(STDIN_FILENO) &&
               (read_line("Again: ", again, sizeof(again)) != n || strcmp(pw, again) != 0)) {
        fprintf(stderr, "bulwark passwd: the passwords differ\n");
    } else {
        char hash[crypto_pwhash_STRBYTES];
        if (crypto_pwhash_str(hash, pw, (unsigned long long)n, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                              crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
            fprintf(stderr, "bulwark passwd: hashing failed (out of memory?)\n");
        } else {
            printf("%s\n", hash);
            rc = 0;
        }
    }
    sodium_memzero(pw, sizeof(pw));
    sodium_memzero(again, sizeof(again));
    return rc;
}
