# shellcheck shell=bash disable=SC2154  # sourced by scripts/test-deploy: its variables
# needs: 10-update
# site.yml makes the second container ($PC) a Linux sender (ansible/tests/sender-test.yml),
# pointed at the appliance on 127.0.0.1:$port.
step "site.yml on the sender container"
(cd ansible && ansible-playbook "${INV[@]}" site.yml --limit "$PC" "${VARS[@]}" "${ENROL_VARS[@]}") \
  >"$WORK/sender.log" 2>&1 || { tail -40 "$WORK/sender.log"; fail "site.yml on the sender"; }
