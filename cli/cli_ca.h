/* cli_ca: `bulwark ca init|issue|sign|server-cert|revoke|list`, the device certificate
 * authority (docs/CA.md).
 *
 * Promises: exit status 0 when done, 1 when refused or failed (one line on stderr says
 * why), 2 for a usage error; nothing is written before the whole command line is
 * understood; the CA key is never printed and is written only with mode 0600. */
#ifndef BULWARK_CLI_CA_H
#define BULWARK_CLI_CA_H

int cli_ca(int argc, char **argv);

#endif
