/* cli_audit: `bulwark audit verify|tail|keygen`: check, read and key the audit log.
 * Promises: verify reads any file with bounded memory and exits 0 only when every line
 * verifies (and the head, if any, is reached); tail never prints a control byte, so a
 * tampered log cannot drive the operator's terminal; keygen never replaces a file. */
#ifndef BULWARK_CLI_AUDIT_H
#define BULWARK_CLI_AUDIT_H

int cli_audit(int argc, char **argv);

#endif
