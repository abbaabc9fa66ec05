# shellcheck shell=bash disable=SC2154  # sourced by scripts/test-deploy: its variables
# needs: 11-first-apply
# Fleet monitoring (docs/alerts-and-metrics.md, "Fleet monitoring"): a second appliance and a
# monitoring host join $PI in one site.yml run. Prometheus scrapes both appliances through the
# file_sd the role wrote from the inventory; the one whose to-do list never came fires
# ApplianceSlotMissed, for it alone, with its unit, kind, site and room; Alertmanager routes
# it to the webhook. /metrics answers the monitoring host's address and refuses (403) another.
# The monitoring role's second run changes nothing. Afterwards the two machines are destroyed
# and $PI gets its own variables back.
MB=monitoring-b-$$
MON=monitoring-mon-$$
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port_b=$(free_port) prom_port=$(free_port) am_port=$(free_port) hook_port=$(free_port)
PROM=http://127.0.0.1:$prom_port
MONITOR_ADDRESS=127.0.0.7  # the monitoring host, as the appliances see it (loopback, any 127.x)
hook_pid=""
monitoring_down() {
  [[ -z $hook_pid ]] || kill "$hook_pid" 2>/dev/null || true
  "$RIG" destroy "$MB" >/dev/null 2>&1 || true
  "$RIG" destroy "$MON" >/dev/null 2>&1 || true
}
trap 'rc=$?; monitoring_down; (exit $rc); cleanup' EXIT

step "webhook receiver on 127.0.0.1:$hook_port (Alertmanager's receiver)"
python3 - "$hook_port" "$WORK/hook.jsonl" <<'EOF' &
import http.server, sys
out = sys.argv[2]
class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with open(out, "ab") as handle:
            handle.write(body.replace(b"\n", b" ") + b"\n")
        self.send_response(200); self.end_headers()
    def log_message(self, *args): pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Hook).serve_forever()
EOF
hook_pid=$!

step "boot $MB (a second appliance) and $MON (the monitoring host)"
DEBIAN_RIG_GROUPS=appliances "$RIG" boot "$MB" >/dev/null
DEBIAN_RIG_GROUPS=monitoring "$RIG" boot "$MON" >/dev/null

# $PI expects nothing (no slots: it never misses one); $MB keeps the slots of group_vars and
# has no data, which counts as missed. Each appliance on its own port (one network here).
cat >"$WORK/monitoring-inventory.yml" <<EOF
all:
  children:
    appliances:
      hosts:
        $PI:
          appliance_web_port: $port
          appliance_metrics_target: "127.0.0.1:$port"
          appliance_site: Testkommun
          appliance_room: Rum A
          appliance_kinds: {todo: {slots: []}, medications: {slots: []}}
        $MB:
          appliance_web_port: $port_b
          appliance_metrics_target: "127.0.0.1:$port_b"
          appliance_site: Testkommun
          appliance_room: Rum B
    monitoring:
      hosts:
        $MON:
          monitoring_address: $MONITOR_ADDRESS
          monitoring_prometheus_listen: "127.0.0.1:$prom_port"
          monitoring_alertmanager_listen: "127.0.0.1:$am_port"
          monitoring_scrape_interval: 5s
          monitoring_scrape_timeout: 5s
          monitoring_evaluation_interval: 5s
          monitoring_alert_webhook_url: "http://127.0.0.1:$hook_port/alerts"
EOF
# VARS without the web port (an extra variable: $PI's would be $MB's too; the inventory has both)
# and without the kiosk on $MB (a browser install that proves nothing here; $PI keeps its).
mon_vars=()
for ((i = 0; i < ${#VARS[@]}; i += 2)); do
  [[ ${VARS[i + 1]} == appliance_web_port=* ]] || mon_vars+=("${VARS[i]}" "${VARS[i + 1]}")
done
mon_vars+=(-e "{\"appliance_kiosk\": false}")
mon_inv=(-i "$("$RIG" inventory "$PI")" -i "$("$RIG" inventory "$MB")"
         -i "$("$RIG" inventory "$MON")" -i "$WORK/monitoring-inventory.yml")
fleet_apply() { # fleet_apply LOG [ARG...]: site.yml on the three machines, as debian-rig runs it
  local log=$1 v unset=(); shift
  for v in $(compgen -e); do [[ $v == PIP_* ]] && unset+=(-u "$v"); done
  (cd ansible && env ${unset[@]+"${unset[@]}"} ansible-playbook "${mon_inv[@]}" site.yml \
     "${mon_vars[@]}" "$@") >"$WORK/$log.log" 2>&1 || { tail -40 "$WORK/$log.log"; fail "site.yml ($log)"; }
}

step "site.yml on $PI, $MB and $MON"
timed monitoring_apply fleet_apply monitoring-apply
grep -E "^($PI|$MB|$MON) " "$WORK/monitoring-apply.log"
"$RIG" exec "$MON" cat /etc/prometheus/file_sd/appliances.yml | tee "$WORK/file_sd.yml"
for target in "127.0.0.1:$port" "127.0.0.1:$port_b"; do
  contains -F "$target" "$WORK/file_sd.yml" || fail "file_sd has no target $target"
done

step "Prometheus scrapes both appliances; $MB's missed slot fires, $PI's nothing"
wait_prometheus() { # wait_prometheus WHAT SECONDS PYTHON: until PYTHON (reading $PROM's JSON) exits 0
  local what=$1 deadline=$((SECONDS + $2)) code=$3
  until python3 -c "$code" "$PROM" "$PI" "$MB" 2>"$WORK/prometheus-wait.err"; do
    ((SECONDS < deadline)) || { cat "$WORK/prometheus-wait.err"; fail "Prometheus: $what"; }
    sleep 2
  done
}
wait_prometheus "both appliances up" 120 '
import json, sys, urllib.request
prom, pi, mb = sys.argv[1:]
targets = json.load(urllib.request.urlopen(prom + "/api/v1/targets"))["data"]["activeTargets"]
up = {t["labels"].get("appliance"): t["health"] for t in targets if t["labels"]["job"] == "appliance"}
assert up == {pi: "up", mb: "up"}, up'
timed monitoring_alert_fires wait_prometheus "ApplianceSlotMissed for $MB" 120 '
import json, sys, urllib.request
prom, pi, mb = sys.argv[1:]
alerts = json.load(urllib.request.urlopen(prom + "/api/v1/alerts"))["data"]["alerts"]
missed = [a["labels"] for a in alerts
          if a["labels"]["alertname"] == "ApplianceSlotMissed" and a["state"] == "firing"]
assert missed, alerts
assert all(labels["appliance"] == mb for labels in missed), missed
todo = [labels for labels in missed if labels["kind"] == "todo"]
assert todo and todo[0]["unit"] == "Hemsjukvård Test" and todo[0]["room"] == "Rum B", todo
assert todo[0]["site"] == "Testkommun" and todo[0]["severity"] == "critical", todo
print("firing:", todo[0])'

step "Alertmanager has it and sends it to the webhook"
deadline=$((SECONDS + 90))
until [[ -s $WORK/hook.jsonl ]] && contains -F '"alertname":"ApplianceSlotMissed"' "$WORK/hook.jsonl"; do
  ((SECONDS < deadline)) || fail "the webhook got no ApplianceSlotMissed from Alertmanager"
  sleep 2
done
python3 - "$WORK/hook.jsonl" "$MB" <<'EOF' || fail "the webhook's alert is not $MB's missed slot"
import json, sys
bodies = [json.loads(line) for line in open(sys.argv[1], encoding="utf-8")]
alerts = [a for body in bodies for a in body["alerts"] if a["labels"]["alertname"] == "ApplianceSlotMissed"]
assert alerts and all(a["labels"]["appliance"] == sys.argv[2] for a in alerts), alerts
assert alerts[0]["annotations"]["summary_sv"].startswith(sys.argv[2] + ": ingen ny lista"), alerts[0]
print("webhook:", bodies[0]["receiver"], alerts[0]["annotations"]["summary"])
EOF
curl -fsS "http://127.0.0.1:$am_port/api/v2/alerts" | contains -F "\"appliance\":\"$MB\"" \
  || fail "Alertmanager's API does not list $MB's alert"

step "/metrics: 200 for the monitoring host's address, 403 for another; the API for both"
code_from() { curl -s -o /dev/null -w '%{http_code}' --interface "$1" "http://127.0.0.1:$port_b$2"; }
[[ $(code_from "$MONITOR_ADDRESS" /metrics) == 200 ]] || fail "/metrics refused the monitoring host"
[[ $(code_from 127.0.0.5 /metrics) == 403 ]] || fail "/metrics served an address not allowed"
[[ $(code_from 127.0.0.5 /healthz) == 200 ]] || fail "the allow-list closed more than /metrics"

step "the monitoring role again: nothing may change"
timed monitoring_reapply fleet_apply monitoring-reapply --limit "$MON"
grep -qE "^$MON +: .* changed=0 " "$WORK/monitoring-reapply.log" \
  || { grep -B3 '^changed' "$WORK/monitoring-reapply.log"; fail "the monitoring role changed something on its second run"; }

step "destroy $MB and $MON; $PI gets its own variables back"
monitoring_down
hook_pid=""
trap cleanup EXIT
apply "$PI" monitoring-restore
