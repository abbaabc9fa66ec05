# shellcheck shell=bash disable=SC2154  # sourced by scripts/test-deploy: its variables
# needs: 11-first-apply
# Security updates without breaking printing: unattended-upgrades takes Debian-Security
# only, in its window; the self-check passes after the role (by hand as root, too). A
# package whose post-install breaks cupsd.conf, installed with apt, makes the apt hook run
# the check: `status` is fault naming cupsd_config, and so is /metrics; the package's
# removal with the file repaired brings it back. A pending reboot reaches status and
# /metrics, never the state.
step "self-check: unattended-upgrades for security only, in the window; the check passes"
origins=$(in_pi apt-config dump Unattended-Upgrade::Origins-Pattern)
echo "$origins"
[[ $(grep -c '^Unattended-Upgrade::Origins-Pattern:: ' <<<"$origins") == 1 ]] \
  && contains -F 'codename=${distro_codename}-security,label=Debian-Security' <<<"$origins" \
  || fail "unattended-upgrades would take more than Debian-Security"
in_pi apt-config dump Unattended-Upgrade::Automatic-Reboot | contains -F '"false"' \
  || fail "unattended-upgrades would reboot on its own"
in_pi unattended-upgrade --dry-run -d 2>&1 | contains -F 'label=Debian-Security' \
  || fail "unattended-upgrade --dry-run does not read the role's origins"
in_pi systemctl show -P TimersCalendar apt-daily-upgrade.timer | tee /dev/stderr \
  | contains -F '03:30' || fail "apt-daily-upgrade.timer is not in the role's window"
for unit in appliance-selftest.timer appliance-dpkg-recover.service apt-daily-upgrade.timer; do
  [[ $(in_pi systemctl is-enabled "$unit") == enabled ]] || fail "$unit not enabled"
done
# As root, by hand: re-run as the service user with the key credential, as the unit is.
in_pi env APPLIANCE_CONFIG=/etc/appliance/appliance.toml /opt/appliance/venv/bin/appliance \
  selftest || fail "the self-check fails on a freshly applied appliance"
status_of --json | contains '"failed": \[\]' || fail "status does not show the passed check"
in_pi systemd-analyze verify /etc/systemd/system/appliance-selftest.service \
  /etc/systemd/system/appliance-selftest.timer || fail "systemd-analyze verify appliance-selftest"
exposure_at_most 2.0 selftest "$PI" /etc/systemd/system/appliance-selftest.service

# The self-check unit's current run (systemd gives each run a new invocation ID).
invocation() { in_pi systemctl show -P InvocationID appliance-selftest.service; }
# selftest_finished BEFORE: a run other than BEFORE (the hook's) started and is done
selftest_finished() {
  local before=$1 deadline=$((SECONDS + 120))
  until [[ $(invocation) != "$before" \
           && $(in_pi systemctl show -P ActiveState appliance-selftest.service) != activating ]]; do
    ((SECONDS < deadline)) || fail "the apt hook did not run the self-check within 120 s"
    sleep 1
  done
}

step "a package whose post-install breaks cupsd.conf: the apt hook raises the fault"
in_pi bash -c 'set -e; d=/root/appliance-breaker; mkdir -p $d/DEBIAN
printf "Package: appliance-breaker\nVersion: 1.0\nArchitecture: all\nMaintainer: test <test@example.invalid>\nDescription: breaks cupsd.conf in its post-install (deploy check 25-selftest)\n" >$d/DEBIAN/control
printf "#!/bin/sh\nset -e\necho \"SelftestBrokenDirective yes\" >>/etc/cups/cupsd.conf\n" >$d/DEBIAN/postinst
chmod 0755 $d/DEBIAN/postinst; dpkg-deb --build --root-owner-group $d /root/appliance-breaker.deb >/dev/null'
since=$(invocation)
in_pi env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq /root/appliance-breaker.deb >/dev/null
selftest_finished "$since"
in_pi journalctl -u appliance-selftest.service -n 12 -o cat --no-pager | tail -12
status=$(status_of --json)
python3 - "$status" <<'EOF' || fail "status after the breaking upgrade: not the fault expected"
import json, sys
status = json.loads(sys.argv[1])
print("state:", status["state"], "failed:", status["selftest"]["failed"])
assert status["state"] == "fault" and status["selftest"]["failed"] == ["cupsd_config"]
assert status["printer"]["condition"] == "ready"  # the running cupsd still prints
detail = next(c["detail"] for c in status["selftest"]["checks"] if c["name"] == "cupsd_config")
assert "SelftestBrokenDirective" in detail, detail
EOF
metrics=$(curl -fsS "http://127.0.0.1:$port/metrics")
contains -x 'appliance_selftest_ok 0.0' <<<"$metrics" || fail "/metrics: appliance_selftest_ok not 0"
contains -x 'appliance_selftest_check_ok{check="cupsd_config"} 0.0' <<<"$metrics" \
  || fail "/metrics does not name the failed check"
contains -x 'appliance_state{state="fault"} 1.0' <<<"$metrics" || fail "/metrics: state not fault"

step "the file repaired and the package removed: the hook's check passes, no fault"
in_pi sed -i '/^SelftestBrokenDirective/d' /etc/cups/cupsd.conf
since=$(invocation)
in_pi env DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq appliance-breaker >/dev/null
selftest_finished "$since"
status_of --json | contains '"failed": \[\]' || fail "the check still fails after the repair"
[[ $(status_of --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])') != fault ]] \
  || fail "still fault after the repair"

step "a pending reboot: for IT on status and /metrics, never the state"
in_pi bash -c 'echo "*** System restart required ***" >/run/reboot-required; echo libc6 >/run/reboot-required.pkgs'
in_pi systemctl start appliance-selftest.service || fail "the check fails with a reboot pending"
status_of --json | contains '"reboot_required": true' || fail "status does not show the pending reboot"
curl -fsS "http://127.0.0.1:$port/metrics" | contains -x 'appliance_reboot_required 1.0' \
  || fail "/metrics: appliance_reboot_required not 1"
in_pi rm -f /run/reboot-required /run/reboot-required.pkgs
in_pi systemctl start appliance-selftest.service
