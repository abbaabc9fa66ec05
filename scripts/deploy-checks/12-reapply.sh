# shellcheck shell=bash disable=SC2154  # sourced by scripts/test-deploy: its variables
# needs: 11-first-apply
# Every task is idempotent: site.yml applied again reports changed=0.
step "apply again: nothing may change"
timed second_apply apply "$PI" second
grep -qE "^$PI +: .* changed=0 " "$WORK/second.log" \
  || { grep -B3 '^changed' "$WORK/second.log"; fail "second apply changed something"; }
