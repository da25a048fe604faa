/* sandbox_selftest: `bulwarkd --sandbox-selftest ROLE`.
 *
 * Promises: for every operation in its table, forks a child that enters the role's real
 * sandbox (sandbox_enter(), everything but the user switch; the auth role's configuration
 * directory is a fresh temporary one) and then tries the operation. Operations the role must
 * never do have to be killed by seccomp (SIGSYS, with the report naming the call) or, for
 * file access the auth daemon or supervisor may otherwise make, refused by Landlock; the few
 * the role needs have to work. Prints the allow-list and one line per operation on stdout;
 * returns 0 only when every line passed (Landlock lines are skipped, not failed, on a kernel
 * without Landlock). */
#ifndef BULWARK_SANDBOX_SELFTEST_H
#define BULWARK_SANDBOX_SELFTEST_H

#include "sandbox.h"

int sandbox_selftest(enum sandbox_role role);

#endif
