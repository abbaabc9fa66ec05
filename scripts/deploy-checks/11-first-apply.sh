# shellcheck shell=bash disable=SC2154  # sourced by scripts/test-deploy: its variables
# needs: 10-update
# site.yml turns the bare, booted Debian 12 into an appliance (ansible/tests/appliance-test.yml).
step "apply site.yml to the fresh Debian 12"
timed first_apply apply "$PI" first
grep -E '^(td-pi|PLAY RECAP)' "$WORK/first.log" | tail -1
# No GPIO in the container: the run succeeded (above) and reported the panel's state.
panel_report=$(grep -o '"appliance-panel: .*"' "$WORK/first.log" || true)
echo "site.yml reported: $panel_report"
[[ $panel_report == *ActiveState=active* && $panel_report == *StatusText=* ]] \
  || { grep -A4 "The panel's state" "$WORK/first.log"; fail "site.yml did not report the panel's state"; }
