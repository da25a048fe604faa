/* cli_passwd: `bulwark passwd`: hash a password for the configuration's users list.
 * Promises: the password is read without echo when stdin is a terminal (asked twice),
 * never printed, and wiped from memory after hashing. */
#ifndef BULWARK_CLI_PASSWD_H
#define BULWARK_CLI_PASSWD_H

int cli_passwd(int argc, char **argv);

#endif
