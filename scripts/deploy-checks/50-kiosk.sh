# shellcheck shell=bash disable=SC2154  # sourced by scripts/test-deploy: its variables
# needs: 23-power-cut
# The kiosk screen (appliance_kiosk: true; docs/kiosk.md). Sourced by scripts/test-deploy.
# A container has no display: the unit must be installed, enabled and skipped cleanly by its
# ConditionPathExists=/dev/dri (no start, no restart loop). Then the same unit, hardening
# and all, runs once with wlroots' headless backend (a runtime drop-in that drops only the
# conditions and the VT) to show cage and Chromium start under it, Chromium's sandbox works
# and the page polls the web service from 127.0.0.1.
kiosk=appliance-kiosk.service

for package in cage xwayland chromium fonts-liberation; do
  # shellcheck disable=SC2016  # dpkg-query's own ${Status}, not the shell's
  [[ $(in_pi dpkg-query -W -f='${Status}' "$package" 2>/dev/null) == "install ok installed" ]] \
    || fail "kiosk: $package not installed"
done
kiosk_groups=" $(in_pi id -nG appliance-kiosk) "
for group in video input render; do
  [[ $kiosk_groups == *" $group "* ]] || fail "kiosk: appliance-kiosk not in $group ($kiosk_groups)"
done
in_pi test -f /etc/pam.d/appliance-kiosk || fail "kiosk: no /etc/pam.d/appliance-kiosk"
[[ $(in_pi systemctl is-enabled "$kiosk") == enabled ]] || fail "kiosk: unit not enabled"
[[ $(in_pi systemctl get-default) == graphical.target ]] || fail "kiosk: default target"
in_pi systemctl show -P Environment "$kiosk" | contains "KIOSK_URL=http://127.0.0.1:$port/kiosk" \
  || fail "kiosk: KIOSK_URL is not the web port $port"
in_pi systemd-analyze verify "/etc/systemd/system/$kiosk" || fail "kiosk: systemd-analyze verify"
# The one unit above 2.0 (docs/kiosk.md, "Hardening": Chromium's sandbox and a display need
# what the others do not); its bound is 2.2, so any loosening fails here.
exposure_at_most 2.2 appliance-kiosk "$PI" "/etc/systemd/system/$kiosk"

# No display: booted (23-power-cut) and started by hand, it is skipped, not failed.
in_pi test ! -e /dev/dri || fail "kiosk: this container has /dev/dri; the skip check is moot"
in_pi systemctl start "$kiosk"
[[ $(in_pi systemctl show -P ConditionResult "$kiosk") == no ]] || fail "kiosk: condition not false"
[[ $(in_pi systemctl is-active "$kiosk") == inactive ]] || fail "kiosk: not inactive without a display"
[[ $(in_pi systemctl show -P NRestarts "$kiosk") == 0 ]] || fail "kiosk: restarted without a display"

# The hardened unit, headless: cage + Chromium must come up and poll the page.
dropin=/run/systemd/system/$kiosk.d
in_pi mkdir -p "$dropin"
in_pi sh -c "cat >$dropin/headless.conf" <<'EOF'
[Unit]
# An empty assignment drops every condition (no /dev/tty7, no /dev/dri here).
ConditionPathExists=
[Service]
TTYPath=
StandardInput=null
TTYReset=no
TTYVHangup=no
TTYVTDisallocate=no
UtmpIdentifier=
Environment=WLR_BACKENDS=headless WLR_HEADLESS_OUTPUTS=1 WLR_RENDERER=pixman WLR_LIBINPUT_NO_DEVICES=1
EOF
in_pi systemctl daemon-reload
since=$(in_pi date '+%Y-%m-%d %H:%M:%S')
in_pi systemctl start "$kiosk"
deadline=$((SECONDS + 120))
until in_pi journalctl -q -u appliance-web --since "$since" | contains 'GET /kiosk/view'; do
  if ((SECONDS > deadline)); then
    in_pi journalctl -q -u "$kiosk" --since "$since" | tail -30
    fail "kiosk: the headless kiosk never polled /kiosk/view"
  fi
  sleep 1
done
[[ $(in_pi systemctl is-active "$kiosk") == active ]] || fail "kiosk: headless kiosk not active"
# Chromium's renderers run in their own user namespace: the sandbox works under the hardening.
renderers=$(in_pi pgrep -u appliance-kiosk -f -- '--type=renderer' | head -1)
[[ -n $renderers ]] || fail "kiosk: no Chromium renderer"
[[ $(in_pi readlink "/proc/$renderers/ns/user") != $(in_pi readlink /proc/1/ns/user) ]] \
  || fail "kiosk: the renderer is not in a sandbox user namespace"
if in_pi journalctl -q -u "$kiosk" --since "$since" | grep -iE 'no usable sandbox|sandbox.*(fail|error)'; then
  fail "kiosk: Chromium's sandbox failed"
fi
echo "kiosk: headless cage + Chromium polled the page; renderer sandboxed (user namespace)"
in_pi systemctl stop "$kiosk"
in_pi rm -r "$dropin"
in_pi systemctl daemon-reload
in_pi systemctl reset-failed "$kiosk"  # cage aborts as Chromium goes: "failed (signal)"
