# shellcheck shell=bash disable=SC2154  # sourced by scripts/test-deploy: its variables
# needs: 11-first-apply
# The services are up, the config passes its check as the service user, the public key was
# fetched to the controller and the private key is not in /etc.
step "units active, config check as the service user"
wait_active appliance-web appliance-proxy appliance-panel appliance-jobs cups
as_appliance config check
[[ -s $WORK/keys/$PI.pub && -s $WORK/keys/$PI.fingerprint ]] || fail "public key not fetched"
in_pi test ! -e /etc/appliance/appliance.key || fail "private key outside the state dir"
