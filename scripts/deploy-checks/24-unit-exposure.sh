# shellcheck shell=bash disable=SC2154  # sourced by scripts/test-deploy: its variables
# needs: 11-first-apply
# The installed units pass `systemd-analyze verify`, and `security --offline=true` scores
# each at most 2.0 (the kiosk's and the USB units' own bounds are in their checks).
step "installed units: systemd-analyze verify and exposure (at most 2.0)"
for unit in appliance-web appliance-proxy appliance-panel appliance-jobs; do
  in_pi systemd-analyze verify "/etc/systemd/system/$unit.service" \
    || fail "systemd-analyze verify $unit"
  exposure_at_most 2.0 "$unit" "$PI" "/etc/systemd/system/$unit.service"
done
