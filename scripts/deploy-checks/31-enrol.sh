# shellcheck shell=bash disable=SC2154  # sourced by scripts/test-deploy: its variables
# needs: 11-first-apply 30-sender
# enrol.yml against the appliance and the sender, twice (the second changes nothing); a
# refused enrolment fails and leaves nothing behind; a third run puts the sender's units back.
step "enrol.yml: an appliance and a sender container, twice"
enrol() { (cd ansible && ansible-playbook "${INV[@]}" enrol.yml "${VARS[@]}" "${ENROL_VARS[@]}") \
            >"$WORK/$1.log" 2>&1 || { tail -40 "$WORK/$1.log"; fail "enrol.yml ($1)"; }; }
timed enrol_first enrol enrol1
grep -E 'fingerprint' "$WORK/enrol1.log" | head -4
timed enrol_second enrol enrol2
if grep -E "^($PI|$PC) +:" "$WORK/enrol2.log" | contains -v 'changed=0 '; then
  fail "second enrol changed something"
fi
as_appliance senders list | contains "$PC" || fail "sender not enrolled on the appliance"
# A refused enrolment (a unit the appliance does not print for) fails the run and leaves no
# copy of the sender's key in /run.
if (cd ansible && ansible-playbook "${INV[@]}" enrol.yml "${VARS[@]}" "${ENROL_VARS[@]}" \
      -e "{\"sender_appliances\": {\"$PI\": [\"Ingen sådan enhet\"]}}") >"$WORK/enrol-bad.log" 2>&1; then
  fail "enrol.yml accepted a unit the appliance does not print for"
fi
in_pi bash -c '! compgen -G "/run/enrol-*"' || fail "a refused enrolment left its key in /run"
timed enrol_restore enrol enrol3  # the sender's units as before
[[ $("$RIG" exec "$PC" systemctl is-active appliance-sender) == active ]] || fail "sender agent"
