/* cli_policy: `bulwark policy check|test|explain`: lint an access policy, ask it one
 * question, or list what an identity may do (docs/POLICY.md).
 * Promises: exit 0 for a valid policy / an allowed request / an explanation, 1 for an
 * invalid policy / a denied request, 2 for usage errors and files that cannot be read. */
#ifndef BULWARK_CLI_POLICY_H
#define BULWARK_CLI_POLICY_H

int cli_policy(int argc, char **argv);

#endif
