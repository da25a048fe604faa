/* cli_import: `bulwark import mosquitto --passwd FILE --acl FILE [-o POLICY]`: turns a
 * Mosquitto 2.0 password file and acl_file into a bulwark policy (docs/MIGRATION.md).
 *
 * Promises: the files are read as Mosquitto 2.0 reads them (same tokens, same comments, the
 * same lines refused); "$7$" hashes are copied verbatim; every rule has an id and a comment
 * naming its source FILE:LINE; each place where bulwark cannot say exactly what Mosquitto
 * does is written as a note in the output and on stderr, and the difference always goes
 * the strict way (bulwark denies what Mosquitto would allow, never the reverse), except for
 * the client-id cases listed in docs/MIGRATION.md. The result is loaded with the policy
 * engine before it is written; the output file is created 0600 (it holds password hashes)
 * and replaced atomically. Exit 0 when written (notes or not), 1 when an input holds errors
 * (each named "FILE:LINE: ...", nothing written), 2 for usage errors and unreadable files. */
#ifndef BULWARK_CLI_IMPORT_H
#define BULWARK_CLI_IMPORT_H

int cli_import(int argc, char **argv);

#endif
