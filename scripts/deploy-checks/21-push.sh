# shellcheck shell=bash disable=SC2154  # sourced by scripts/test-deploy: its variables
# needs: 11-first-apply
# A sender on the host ($SENDER, its files in $WORK/sender) is added to the appliance, seals
# a 3-page to-do list ($WORK/todo.pdf, reused by later checks) and POSTs it to the proxy on
# 127.0.0.1:$port: 201.
step "a sender on the host pushes to the appliance on 127.0.0.1:$port"
.venv/bin/appliance-sender init --dir "$WORK/sender" >/dev/null
sed -i 's/^name = .*/name = "host-sender"/; s/^unit = .*/unit = "Hemsjukvård Test"/' "$WORK/sender/sender.toml"
"${SENDER[@]}" pubkey >"$("$RIG" root "$PI")/var/tmp/host-sender.pub"
as_appliance senders add host-sender /var/tmp/host-sender.pub --unit "Hemsjukvård Test"
.venv/bin/python - "$WORK/todo.pdf" <<'PY'
import sys
from datetime import datetime, timezone
from appliance.devtools.synthetic import make_document
open(sys.argv[1], "wb").write(make_document("todo", unit="Hemsjukvård Test", pages=3,
                                            produced_at=datetime.now(timezone.utc)))
PY
"${SENDER[@]}" seal "$WORK/todo.pdf" --kind todo --recipient "$WORK/keys/$PI.pub" -o "$WORK/todo.seal"
status=$(curl -sS -o "$WORK/push.json" -w '%{http_code}' -H 'Content-Type: application/octet-stream' \
         --data-binary @"$WORK/todo.seal" "http://127.0.0.1:$port/api/v1/snapshots")
echo "push: HTTP $status $(cat "$WORK/push.json")"
[[ $status == 201 ]] || fail "push answered $status, not 201"
