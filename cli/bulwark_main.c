/* bulwark: the administration command. Subcommands grow with the product. */
#include <stdio.h>
#include <string.h>

#include "cli_audit.h"
#include "cli_ca.h"
#include "cli_import.h"
#include "cli_passwd.h"
#include "cli_policy.h"

#define BULWARK_VERSION "0.1.0"

static void usage(void)
{
    fprintf(stderr, "usage: bulwark COMMAND [ARGS]\n"
                    "commands:\n"
                    "  audit       verify, tail or key the audit log (bulwark audit --help)\n"
                    "  ca          device certificate authority: init, issue, sign, server-cert,\n"
                    "              revoke, list (bulwark ca --help)\n"
                    "  import      turn a Mosquitto password file and acl_file into a policy\n"
                    "  passwd      read a password (no echo on a terminal) and print its\n"
                    "              argon2id hash for the users list of bulwark.yaml\n"
                    "  version     print the version\n");
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
        !strcmp(argv[1], "help")) {
        usage();
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "passwd")) return cli_passwd(argc - 1, argv + 1);
    if (!strcmp(argv[1], "policy")) return cli_policy(argc - 1, argv + 1);
    if (!strcmp(argv[1], "audit")) return cli_audit(argc - 1, argv + 1);
    if (!strcmp(argv[1], "import")) return cli_import(argc - 1, argv + 1);
    if (!strcmp(argv[1], "ca")) return cli_ca(argc - 1, argv + 1);
    if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
        printf("bulwark %s\n", BULWARK_VERSION);
        return 0;
    }
    fprintf(stderr, "bulwark: unknown command '%s'\n", argv[1]);
    usage();
    return 2;
}
