# shellcheck shell=bash disable=SC2154  # sourced by scripts/test-deploy: its variables
# needs: 11-first-apply
# The README's installation check, `site.yml --check --diff`, reports nothing to change.
step "--check --diff (the README's installation check) reports nothing to change"
timed check_mode apply "$PI" check --check --diff
grep -qE "^$PI +: .* changed=0 " "$WORK/check.log" \
  || { grep -B3 '^changed' "$WORK/check.log"; fail "--check reports changes"; }
