# shellcheck shell=bash disable=SC2154  # sourced by scripts/test-deploy: its variables
# needs: 21-push
# A power cut (the container stopped and booted): every unit comes back, the web service
# answers, the pushed snapshot is still there and the audit log verifies. Timed: boot to the
# web service answering, and each unit's time from systemd's start to active.
step "power cut: stop and boot, everything comes back"
"$RIG" stop "$PI" >/dev/null
t0=$(date +%s.%N)
"$RIG" boot "$PI" >/dev/null
wait_active appliance-web appliance-proxy appliance-panel appliance-jobs cups
deadline=$((SECONDS + 60))
until curl -fsS -o /dev/null "http://127.0.0.1:$port/api/v1/status"; do
  ((SECONDS < deadline)) || fail "web service does not answer after boot"; sleep 0.2
done
echo "boot_to_web_answering $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')" \
  | tee -a "$WORK/times"
# Each unit's time from systemd's start to active (Type=notify: READY=1, for the panel once
# its LED shows the state), then systemd's own blame.
userspace=$(in_pi systemctl show -P UserspaceTimestampMonotonic)
for unit in appliance-web appliance-proxy appliance-panel appliance-jobs cups; do
  active=$(in_pi systemctl show -P ActiveEnterTimestampMonotonic "$unit")
  echo "ready_after_boot_$unit $(awk -v a="$active" -v u="$userspace" 'BEGIN{printf "%.2f", (a-u)/1e6}')" \
    | tee -a "$WORK/times"
done
in_pi systemd-analyze blame | grep -E 'appliance|cups' || true
as_appliance snapshots --json | contains '"todo"'  || fail "snapshot lost in the power cut"
as_appliance audit verify
