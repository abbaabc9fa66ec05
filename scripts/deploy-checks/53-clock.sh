# shellcheck shell=bash disable=SC2154  # sourced by scripts/test-deploy: its variables
# needs: 11-first-apply
# Clock trust (docs/clinical-safety.md): the role writes [clock] has_rtc, and the web service
# and the panel ask the kernel whether the clock is synchronised (adjtimex, allowed by their
# units' SystemCallFilter; without it seccomp would kill them). What the kernel answers
# depends on the test host, so the check asks for an answer, not a particular one: in the
# nspawn container the services get EPERM from the container's own seccomp filter (no
# CAP_SYS_TIME there), so they say `sync-unknown`; `appliance status` run through nsenter
# gets the kernel's real answer. Not killed means the units' filter allows the call.
in_pi grep -A1 '^\[clock\]' /etc/appliance/appliance.toml | contains -x 'has_rtc = false' \
  || fail "appliance.toml has no [clock] has_rtc = false"
curl -fsS "http://127.0.0.1:$port/api/v1/status" >"$WORK/clock-status.json" \
  || fail "status after asking the kernel about the clock"
python3 - "$WORK/clock-status.json" <<'EOF' || fail "/api/v1/status has no clock judgement"
import json, sys
clock = json.load(open(sys.argv[1]))["clock"]
assert clock["state"] in ("trusted", "unsure") and clock["reason"], clock
print("clock:", clock["state"], clock["reason"])
EOF
status_of >"$WORK/clock-status.txt"
grep '^clock: ' "$WORK/clock-status.txt" || fail "appliance status has no clock line"
for unit in appliance-web appliance-panel; do
  restarts=$(in_pi systemctl show -p NRestarts --value "$unit.service")
  [ "$restarts" = 0 ] || fail "$unit restarted $restarts time(s) (seccomp and adjtimex?)"
done
! in_pi journalctl -u appliance-web -u appliance-panel -o cat | contains 'SIGSYS' \
  || fail "a service was killed by seccomp"
