# shellcheck shell=bash disable=SC2154  # sourced by scripts/test-deploy: its variables
# needs: 11-first-apply 21-push 31-enrol
# rotate.yml on the appliance and the sender, twice (the second changes nothing): the
# appliance's key is rotated inside its credential, the sender's key replaced and the old one
# retired. A medication list pushed before the rotation prints during the grace period,
# after it, and after a second run; pushes sealed to the old key are accepted in the grace
# period and refused after it; the host's sender rotates its key by hand (add-key, activate,
# retire-key) and its old key is refused, precisely, once retired.
step "rotate.yml: appliance and sender keys rotated for the fleet, twice"
push_seal() { # push_seal FILE: POST it, print the HTTP status
  curl -sS -o "$WORK/rotate-push.json" -w '%{http_code}' -H 'Content-Type: application/octet-stream' \
       --data-binary @"$1" "http://127.0.0.1:$port/api/v1/snapshots"; }
kit_pages() { # kit_pages PROFILE: pages of the kit composed with the key (exported, then deleted)
  with_key print --profile "$1" --output /var/tmp/rotate-kit.pdf 2>/dev/null \
    | grep -oE '[0-9]+ pages' | head -1 | cut -d' ' -f1
  in_pi rm -f /var/tmp/rotate-kit.pdf; }
key_json() { as_appliance key status --json | .venv/bin/python -c "import json,sys; print(json.load(sys.stdin)[sys.argv[1]])" "$1"; }
rotate() { # rotate LOG [ANSIBLE_PLAYBOOK_ARG...]: rotate.yml, round deploy-1, its log $WORK/LOG.log
  local log=$1; shift
  (cd ansible && ansible-playbook "${INV[@]}" rotate.yml "${VARS[@]}" "${ENROL_VARS[@]}" \
     -e rotation_round=deploy-1 "$@") >"$WORK/$log.log" 2>&1 \
     || { tail -40 "$WORK/$log.log"; fail "rotate.yml ($log)"; }; }

cp "$WORK/keys/$PI.pub" "$WORK/old-$PI.pub"
.venv/bin/python - "$WORK/meds.pdf" <<'PY'
import sys
from datetime import datetime, timezone
from appliance.devtools.synthetic import make_document
open(sys.argv[1], "wb").write(make_document("medications", unit="Hemsjukvård Test", pages=4,
                                            produced_at=datetime.now(timezone.utc)))
PY
"${SENDER[@]}" seal "$WORK/meds.pdf" --kind medications --recipient "$WORK/old-$PI.pub" -o "$WORK/meds.seal"
[[ $(push_seal "$WORK/meds.seal") == 201 ]] || fail "medication list before rotation: $(cat "$WORK/rotate-push.json")"
before=$(kit_pages full) button=$(kit_pages button)
echo "kit before rotation: full $before pages, button $button"
(( before == button + 4 )) || fail "the medication list is not in the full kit"
pc_old=$("$RIG" exec "$PC" runuser -u appliance-sender -- /opt/appliance-sender/bin/appliance-sender \
         --config /etc/appliance-sender/sender.toml key status | .venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)["fingerprint"])')

timed rotate_first rotate rotate1 -e rotation_grace_days=14
timed rotate_second rotate rotate2
if grep -E "^($PI|$PC) +:" "$WORK/rotate2.log" | contains -v 'changed=0 '; then
  fail "second rotate.yml changed something"
fi
in_pi cat /var/lib/appliance/keys/appliance.pub >"$WORK/new-$PI.pub"
cmp -s "$WORK/old-$PI.pub" "$WORK/new-$PI.pub" && fail "the appliance's public key did not change"
[[ $(key_json in_grace) == 1 ]] || fail "no grace period running after rotate.yml"
in_pi bash -c '! grep -rl "BEGIN APPLIANCE HPKE PRIVATE KEY" /var/lib/appliance /etc/appliance' \
  || fail "a plaintext private key on the appliance's disk"
in_pi bash -c 'systemd-creds decrypt --name=appliance-key /etc/appliance/credentials/appliance-key.cred - \
  | grep -c "BEGIN APPLIANCE HPKE PRIVATE KEY"' | contains -x 2 || fail "the credential does not hold both keys"
# The sender container's key: replaced, the new one enrolled, the old one retired.
pc_new=$("$RIG" exec "$PC" runuser -u appliance-sender -- /opt/appliance-sender/bin/appliance-sender \
         --config /etc/appliance-sender/sender.toml key status | .venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)["fingerprint"])')
[[ $pc_new != "$pc_old" ]] || fail "the sender's key did not change"
as_appliance senders list --json | .venv/bin/python -c '
import json, sys
pc, new = sys.argv[1], sys.argv[2]
entry = {s["name"]: s for s in json.load(sys.stdin)}[pc]
sys.exit(entry["fingerprints"] != [new])' "$PC" "$pc_new" || fail "the sender's new key alone is not enrolled"
in_pi grep -cE '"event": ?"sender_key_retired"' /var/lib/appliance/audit.log | contains -x 1 \
  || fail "the retirement is not audited once"
cmp -s "$WORK/new-$PI.pub" "$("$RIG" root "$PC")/etc/appliance-sender/appliances/$PI.pub" \
  || fail "the sender did not get the appliance's new public key"

step "in the grace period: old and new appliance key, old and new sender key"
"${SENDER[@]}" seal "$WORK/todo.pdf" --kind todo --recipient "$WORK/old-$PI.pub" -o "$WORK/grace-old.seal"
[[ $(push_seal "$WORK/grace-old.seal") == 201 ]] || fail "old appliance key in grace: $(cat "$WORK/rotate-push.json")"
"${SENDER[@]}" key prepare --round host-1 >/dev/null
cp "$WORK/sender/state/keys/sender.next.pub" "$("$RIG" root "$PI")/var/tmp/host-sender-next.pub"
as_appliance senders add-key host-sender /var/tmp/host-sender-next.pub
"${SENDER[@]}" seal "$WORK/todo.pdf" --kind todo --recipient "$WORK/new-$PI.pub" -o "$WORK/old-sender.seal"
"${SENDER[@]}" seal "$WORK/todo.pdf" --kind todo --recipient "$WORK/new-$PI.pub" -o "$WORK/late-old-sender.seal"
[[ $(push_seal "$WORK/old-sender.seal") == 201 ]] || fail "old sender key beside the new: $(cat "$WORK/rotate-push.json")"
"${SENDER[@]}" key activate >/dev/null
"${SENDER[@]}" seal "$WORK/todo.pdf" --kind todo --recipient "$WORK/new-$PI.pub" -o "$WORK/new-sender.seal"
[[ $(push_seal "$WORK/new-sender.seal") == 201 ]] || fail "new sender key: $(cat "$WORK/rotate-push.json")"
old_fp=$(.venv/bin/python -c '
import sys
from appliance.core.crypto import keys
key = keys.parse_sender_public_pem(open(sys.argv[1], "rb").read(), "retired")
print(keys.sender_fingerprint(key)[:16])' "$WORK/sender/state/keys/sender.retired.pub")
as_appliance senders retire-key host-sender "$old_fp"
[[ $(push_seal "$WORK/late-old-sender.seal") == 403 ]] || fail "retired sender key accepted"
contains '"retired_key"' "$WORK/rotate-push.json" || fail "retired key refused without saying so"
cat "$WORK/rotate-push.json"; echo
during=$(kit_pages full)
(( during == $(kit_pages button) + 4 )) || fail "the medication list does not print in the grace period"

step "after the grace period: the old key refuses new snapshots, the stored list still prints"
as_appliance key end-grace
"${SENDER[@]}" seal "$WORK/todo.pdf" --kind todo --recipient "$WORK/old-$PI.pub" -o "$WORK/after-old.seal"
[[ $(push_seal "$WORK/after-old.seal") == 403 ]] || fail "old appliance key accepted after the grace"
contains '"retired_recipient"' "$WORK/rotate-push.json" || fail "old key refused without saying so"
after=$(kit_pages full)
(( after == $(kit_pages button) + 4 )) || fail "the medication list does not print after the grace"
with_key print --profile full --wait | tee "$WORK/rotate-print.out"  # and on paper, through CUPS
contains "$after pages" "$WORK/rotate-print.out" || fail "the printed kit differs from the composed one"
timed rotate_third rotate rotate3  # prunes nothing: the stored list needs the old key
if grep -E "^($PI|$PC) +:" "$WORK/rotate3.log" | contains -v 'changed=0 '; then
  fail "rotate.yml after the grace changed something although the old key is still needed"
fi
(( $(kit_pages full) == $(kit_pages button) + 4 )) || fail "the medication list lost after rotate.yml"
[[ $(key_json previous_keys) == 1 ]] || fail "the old key was not kept for the stored list"
"${SENDER[@]}" seal "$WORK/todo.pdf" --kind todo --recipient "$WORK/new-$PI.pub" -o "$WORK/final.seal"
[[ $(push_seal "$WORK/final.seal") == 201 ]] || fail "push after rotation: $(cat "$WORK/rotate-push.json")"
[[ $("$RIG" exec "$PC" systemctl is-active appliance-sender) == active ]] || fail "sender agent"
