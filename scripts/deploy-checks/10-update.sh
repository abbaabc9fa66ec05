# shellcheck shell=bash disable=SC2154  # sourced by scripts/test-deploy: its variables
# Today's Debian in both containers before the roles run, as on a Pi that has had its
# updates: the rig's cached image may be weeks old, and an update that breaks a role must
# fail here.
upgrade() { # upgrade MACHINE
  "$RIG" exec "$1" env DEBIAN_FRONTEND=noninteractive bash -c 'apt-get update -qq \
    && apt-get -y -qq -o Dpkg::Options::=--force-confold upgrade >/dev/null' \
    || fail "apt-get upgrade in $1"
  echo "$1: updated; cups-daemon candidate $("$RIG" exec "$1" apt-cache policy cups-daemon \
    | awk '/Candidate/ {print $2}')"
}
timed upgrade_pi upgrade "$PI"
upgrade "$PC"
