# shellcheck shell=bash disable=SC2154  # sourced by scripts/test-deploy: its variables
# needs: 11-first-apply
# The panel as installed (docs/panel.md, "No GPIO" and "The pin factory"). This container
# is amd64 without /dev/gpiochip*: a Pi whose GPIO does not work. The daemon must be up, not
# restarted by its watchdog, and say why on status and /metrics; and lgpio must import in the
# installed venv under the unit's own sandbox (its notification pipe in LG_WD), which a
# control without LG_WD/WorkingDirectory shows would fail.
step "panel without GPIO: active, no restarts past WatchdogSec, the fault shown to IT"
wait_active appliance-panel
restarts_before=$(in_pi systemctl show -P NRestarts appliance-panel)
watchdog=$(in_pi systemctl show -P WatchdogUSec appliance-panel)
echo "panel: WatchdogUSec=$watchdog, NRestarts=$restarts_before, waiting 40 s"
sleep 40  # past WatchdogSec=30 and the 30 s retry wait that once equalled it
[[ $(in_pi systemctl is-active appliance-panel) == active ]] || fail "panel not active"
restarts_after=$(in_pi systemctl show -P NRestarts appliance-panel)
[[ $restarts_after == "$restarts_before" ]] \
  || fail "panel restarted $((restarts_after - restarts_before)) times (watchdog?)"
panel_status=$(in_pi systemctl show -P StatusText appliance-panel)
echo "panel StatusText: $panel_status"
[[ $panel_status == "waiting for GPIO: "* ]] || fail "panel status text: $panel_status"
status_of | contains '^panel: waiting since .*FAULT' \
  || fail "appliance status does not show the panel's fault"
curl -fsS "http://127.0.0.1:$port/metrics" | contains -xE 'appliance_panel_gpio_ready 0(\.0)?' \
  || fail "/metrics does not show the panel's fault"
in_pi journalctl -u appliance-panel -o cat | contains 'GPIO not usable' \
  || fail "the panel's journal does not say why"

step "lgpio imports in the installed venv under the panel unit's own sandbox"
# The [Service] lines of the installed unit, as -p properties of a transient unit, without
# what makes it the daemon (type, command, restarts, watchdog, the key credential); its
# runtime folder renamed, since systemd removes a unit's runtime folder when it stops and
# the running panel's must stay.
mapfile -t sandbox < <(in_pi sed -n '/^\[Service\]/,/^\[/p' /etc/systemd/system/appliance-panel.service \
  | grep -E '^[A-Za-z]+=' \
  | grep -vE '^(Type|ExecStart|Restart|RestartSec|WatchdogSec|LoadCredentialEncrypted)=' \
  | sed 's/^/-p/' \
  | sed -E '/^-p(RuntimeDirectory|WorkingDirectory|Environment=LG_WD)=/ s/appliance-panel/appliance-panel-probe/')
lgpio_probe='import os, lgpio
from gpiozero.pins.lgpio import LGPIOFactory
print("lgpio", lgpio.__file__, "pipes:", sorted(n for n in os.listdir(".") if n.startswith(".lgd")))'
in_pi systemd-run --quiet --pipe --wait --collect "${sandbox[@]}" \
  /opt/appliance/venv/bin/python -c "$lgpio_probe" | tee "$WORK/lgpio.out" \
  || fail "lgpio does not import under the panel's sandbox"
contains "pipes: \['.lgd-nfy" <"$WORK/lgpio.out" || fail "lgpio made no pipe in its folder"
# Control: the same sandbox without the writable folder fails as the bug report said.
mapfile -t no_wd < <(printf '%s\n' "${sandbox[@]}" | grep -vE '^-p(WorkingDirectory|Environment=LG_WD)=')
if in_pi systemd-run --quiet --pipe --wait --collect "${no_wd[@]}" \
     /opt/appliance/venv/bin/python -c "$lgpio_probe" >"$WORK/lgpio-control.out" 2>&1; then
  fail "control: lgpio imported without a writable folder (the check proves nothing)"
fi
contains 'lgd-nfy' <"$WORK/lgpio-control.out" || { cat "$WORK/lgpio-control.out"; \
  fail "control failed for another reason than lgpio's pipe"; }
echo "control without LG_WD: $(tail -n 1 "$WORK/lgpio-control.out")"
