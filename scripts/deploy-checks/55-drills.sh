# shellcheck shell=bash disable=SC2154  # sourced by scripts/test-deploy: its variables
# needs: 11-first-apply
# Drills (docs/printing.md#drills): `appliance drill` prints through the installed CUPS queue
# as the service user, is audited as a drill and never as a print, and the services see it:
# the jobs service (its sandbox must let it write drills.json), /api/v1/status and /metrics.
step "appliance drill --wait: audited as a drill, shown by status and metrics"
printed_before=$(in_pi grep -c '"event":"printed"' /var/lib/appliance/audit.log || true)
with_key drill --wait | tee "$WORK/drill.out"
grep -q ', DRILL); ' "$WORK/drill.out" || fail "appliance drill did not say it printed a drill"
in_pi grep -q '"event":"drill_printed"' /var/lib/appliance/audit.log \
  || fail "no drill_printed in the audit log"
printed_after=$(in_pi grep -c '"event":"printed"' /var/lib/appliance/audit.log || true)
[[ $printed_after == "$printed_before" ]] || fail "a drill was audited as a real print"
curl -fsS "http://127.0.0.1:$port/api/v1/status" >"$WORK/drill-status.json" \
  || fail "status after the drill"
python3 - "$WORK/drill-status.json" <<'EOF' || fail "/api/v1/status does not show the drill"
import json, sys
drill = json.load(open(sys.argv[1]))["drill"]
assert drill["last_drill_at"] and drill["reminder_due"] is False, drill
print("drill:", drill)
EOF
curl -fsS "http://127.0.0.1:$port/metrics" | contains -xE 'appliance_drill_due 0(\.0)?' \
  || fail "/metrics does not show the drill"
status_of | contains '^drill: last ' || fail "appliance status has no drill line"
in_pi systemctl restart appliance-jobs.service
wait_active appliance-jobs
in_pi test -f /var/lib/appliance/drills.json || fail "drills.json missing"
! in_pi journalctl -u appliance-jobs -o cat | contains 'drill reminder failed' \
  || fail "the jobs service cannot run the drill reminder"
