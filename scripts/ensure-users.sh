#!/usr/bin/env bash
# Creates the system users the roles drop to (sandbox.* in deploy/bulwark.yaml), if missing:
# group bulwark, users bulwark-worker and bulwark-auth (no home, no login shell). Distinct
# users, so a compromised worker can neither signal nor ptrace the auth daemon.
# Not root: nothing to do, bulwarkd then keeps the caller's uid for every role.
set -euo pipefail
group=${BULWARK_GROUP:-bulwark}
users=("${BULWARK_WORKER_USER:-bulwark-worker}" "${BULWARK_AUTH_USER:-bulwark-auth}")

if [ "$(id -u)" -ne 0 ]; then
  missing=()
  for u in "${users[@]}"; do getent passwd "$u" >/dev/null || missing+=("$u"); done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "ensure-users: not root, so not creating ${missing[*]}; bulwarkd started by you" \
      "runs every role as you (still under no_new_privs, Landlock and seccomp)" >&2
  fi
  exit 0
fi

nologin=/usr/sbin/nologin
[ -x "$nologin" ] || nologin=/bin/false
if ! getent group "$group" >/dev/null; then
  echo "ensure-users: creating system group $group"
  groupadd --system "$group"
fi
for u in "${users[@]}"; do
  if ! getent passwd "$u" >/dev/null; then
    echo "ensure-users: creating system user $u (group $group)"
    useradd --system --no-create-home --home-dir /nonexistent --shell "$nologin" \
      --gid "$group" "$u"
  fi
done
