# shellcheck shell=bash disable=SC2154  # sourced by scripts/test-deploy: its variables
# needs: 11-first-apply
# The installed units pass `systemd-analyze verify`, and `security --offline=true` scores
# each at most 2.0 (the kiosk's and the USB units' own bounds are in their checks).
step "installed units: systemd-analyze verify and exposure (at most 2.0)"
for unit in appliance-web appliance-proxy appliance-panel appliance-jobs; do
  in_pi systemd-analyze verify "/etc/systemd/system/$unit.service" \
    || fail "systemd-analyze verify $unit"
  score=$(in_pi systemd-analyze security --offline=true "/etc/systemd/system/$unit.service" \
          | sed -n 's/.*Overall exposure level for .*: \([0-9.]*\).*/\1/p')
  echo "exposure $unit $score" | tee -a "$WORK/times"
  awk -v s="$score" 'BEGIN { exit !(s != "" && s <= 2.0) }' || fail "$unit exposure $score > 2.0"
done
