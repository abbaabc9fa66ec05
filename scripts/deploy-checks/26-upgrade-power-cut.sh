# shellcheck shell=bash disable=SC2154  # sourced by scripts/test-deploy: its variables
# needs: 11-first-apply
# A power cut during an upgrade: the container's PID 1 killed with SIGKILL (everything in
# it dies at once, no shutdown) while apt runs a package's post-install script. At boot
# appliance-dpkg-recover.service finishes the interrupted configuration, the self-check
# runs after it and passes, and the appliance is back to ready: timed as 23-power-cut
# times it (boot to the web service answering, each unit's time to active), plus boot to
# the self-check's pass. The host's page cache survives the kill (the container's root is a
# host folder): what a real power cut also loses, unsynced writes, is not simulated here.
step "power cut during an upgrade: a post-install script cut short, back to ready after boot"
in_pi bash -c 'set -e; d=/root/appliance-slow; mkdir -p $d/DEBIAN
printf "Package: appliance-slow\nVersion: 1.0\nArchitecture: all\nMaintainer: test <test@example.invalid>\nDescription: a slow post-install (deploy check 26-upgrade-power-cut)\n" >$d/DEBIAN/control
printf "#!/bin/sh\nset -e\nif [ ! -e /var/lib/appliance-slow-cut ]; then touch /var/lib/appliance-slow-cut; sleep 600; fi\n" >$d/DEBIAN/postinst
chmod 0755 $d/DEBIAN/postinst; dpkg-deb --build --root-owner-group $d /root/appliance-slow.deb >/dev/null'
in_pi systemd-run --quiet --unit=selftest-upgrade -E DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -qq /root/appliance-slow.deb
deadline=$((SECONDS + 120))
until [[ $(in_pi dpkg-query -W -f='${Status}' appliance-slow 2>/dev/null) == *half-configured* ]]; do
  ((SECONDS < deadline)) || fail "the slow post-install never started"; sleep 0.5
done
echo "dpkg: appliance-slow $(in_pi dpkg-query -W -f='${Status}' appliance-slow)"
leader=$("$RIG" list | awk -v m="$PI" '$1 == m && $2 == "running" {print $5}' | tr -d ')')
[[ -n $leader ]] || fail "no leader PID for $PI"
kill -KILL "$leader"  # the power cut: PID 1 of the container, and with it everything
deadline=$((SECONDS + 30))
while [[ -n $("$RIG" list | awk -v m="$PI" '$1 == m && $2 == "running"') ]]; do
  ((SECONDS < deadline)) || fail "$PI still running after the kill"; sleep 0.2
done
t0=$(date +%s.%N)
"$RIG" boot "$PI" >/dev/null
wait_active appliance-web appliance-proxy appliance-panel appliance-jobs cups
deadline=$((SECONDS + 60))
until curl -fsS -o /dev/null "http://127.0.0.1:$port/api/v1/status"; do
  ((SECONDS < deadline)) || fail "web service does not answer after the boot"; sleep 0.2
done
elapsed() { awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}'; }
echo "upgrade_cut_boot_to_web_answering $(elapsed)" | tee -a "$WORK/times"
deadline=$((SECONDS + 180))
until [[ $(in_pi systemctl show -P Result appliance-selftest.service) == success \
         && $(in_pi systemctl show -P ActiveState appliance-selftest.service) == inactive \
         && $(in_pi systemctl show -P ExecMainExitTimestampMonotonic appliance-selftest.service) != 0 ]]; do
  if [[ $(in_pi systemctl show -P ActiveState appliance-selftest.service) == failed ]]; then
    in_pi journalctl -b -u appliance-dpkg-recover.service -u appliance-selftest.service -o cat --no-pager | tail -30
    fail "the self-check failed after the cut"
  fi
  ((SECONDS < deadline)) || fail "the self-check did not pass within 180 s of the boot"; sleep 0.5
done
echo "upgrade_cut_boot_to_selftest_passed $(elapsed)" | tee -a "$WORK/times"
userspace=$(in_pi systemctl show -P UserspaceTimestampMonotonic)
for unit in appliance-web appliance-proxy appliance-panel appliance-jobs cups appliance-dpkg-recover appliance-selftest; do
  active=$(in_pi systemctl show -P ActiveEnterTimestampMonotonic "$unit")
  ((active > 0)) || active=$(in_pi systemctl show -P InactiveEnterTimestampMonotonic "$unit")
  echo "upgrade_cut_ready_after_boot_$unit $(awk -v a="$active" -v u="$userspace" 'BEGIN{printf "%.2f", (a-u)/1e6}')" \
    | tee -a "$WORK/times"
done
in_pi journalctl -b -u appliance-dpkg-recover.service -o cat --no-pager | tail -5
[[ $(in_pi dpkg-query -W -f='${Status}' appliance-slow) == "install ok installed" ]] \
  || fail "the interrupted package was not configured at boot"
status_of --json | contains '"failed": \[\]' || fail "status: the self-check did not pass"
as_appliance audit verify
in_pi env DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq appliance-slow >/dev/null
in_pi rm -f /var/lib/appliance-slow-cut
