# shellcheck shell=bash disable=SC2154  # sourced by scripts/test-deploy: its variables
# needs: 21-push 31-enrol
# The enrolled sender's agent delivers the to-do list dropped into its outbox within 60 s;
# its unit passes `systemd-analyze verify` and scores at most 2.0.
step "the enrolled sender's agent delivers an export from its outbox"
cp "$WORK/todo.pdf" "$("$RIG" root "$PC")/srv/exports/todo-agent.pdf"
deadline=$((SECONDS + 60))
until as_appliance snapshots | contains "$PC"; do
  ((SECONDS < deadline)) || fail "the sender agent's export did not arrive"; sleep 1
done
"$RIG" exec "$PC" systemd-analyze verify appliance-sender.service || fail "verify appliance-sender"
exposure_at_most 2.0 appliance-sender "$PC" appliance-sender.service
