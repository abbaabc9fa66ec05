# shellcheck shell=bash disable=SC2154  # sourced by scripts/test-deploy: its variables
# needs: 21-push
# USB stick import (docs/usb-import.md), installed by appliance_usb_import: true. An ext4
# image stands in for the stick (the test host's kernel has no vfat or exfat: the FAT mount
# options are not exercised here): the host sender seals onto it with `seal --to-dir`, plus
# a PDF named .seal (plaintext: refused) and a text file (ignored). No udev runs in the
# nspawn container and it has no loop devices of its own, so the host attaches the image to
# a loop device, the check makes its node inside, and starts the unit for it by hand
# (appliance-usb-import@loopN.service), as the udev rule would for a FAT stick.
in_pi test -f /etc/udev/rules.d/90-appliance-usb-import.rules || fail "udev rule not installed"
in_pi systemd-analyze verify appliance-usb-import@sdb1.service appliance-usb-mount@sdb1.service \
  || fail "verify the usb import units"
# The import (as the service user) within 2.0; the mount helper, root without a mount
# namespace by necessity (see its unit), within 3.5.
for unit_limit in appliance-usb-import@:2.0 appliance-usb-mount@:3.5; do
  exposure_at_most "${unit_limit#*:}" "${unit_limit%:*}" "$PI" "${unit_limit%:*}sdb1.service"
done

"${SENDER[@]}" appliances add "$PI" "http://127.0.0.1:$port" "$WORK/keys/$PI.pub" >/dev/null
mkdir -p "$WORK/stick"
cp "$WORK/todo.pdf" "$WORK/usb-todo.pdf" && touch "$WORK/usb-todo.pdf"  # produced now
"${SENDER[@]}" seal "$WORK/usb-todo.pdf" --kind todo --to-dir "$WORK/stick"
cp "$WORK/todo.pdf" "$WORK/stick/plain-export.seal"
echo "not an envelope" >"$WORK/stick/README.txt"
mkfs.ext4 -q -d "$WORK/stick" "$WORK/stick.img" 4M
loop=$(losetup -f --show "$WORK/stick.img")
trap 'losetup -d "$loop" 2>/dev/null || true; cleanup' EXIT
instance=${loop#/dev/}
in_pi sh -c "test -b /dev/$instance || mknod /dev/$instance b 7 ${instance#loop}"

# It fails, as it should: one file on the stick is refused (the journal, printed below, says).
in_pi systemctl start "appliance-usb-import@$instance.service" 2>/dev/null \
  && fail "the import unit succeeded although the stick held a refused file"
invocation=$(in_pi systemctl show -p InvocationID --value "appliance-usb-import@$instance.service")
in_pi journalctl "_SYSTEMD_INVOCATION_ID=$invocation" -o cat >"$WORK/usb.log"
cat "$WORK/usb.log"
grep -q ': accepted as ' "$WORK/usb.log" || fail "the sealed envelope was not accepted"
grep -q ': REFUSED malformed' "$WORK/usb.log" || fail "the plaintext file was not refused"
grep -q 'imported 1, refused 1, ignored 0' "$WORK/usb.log" || fail "import summary"
! grep -q 'plain-export' "$WORK/usb.log" || fail "a file name from the stick reached the journal"
id=$(sed -n 's/.*: accepted as \([^ ]*\)$/\1/p' "$WORK/usb.log")
as_appliance snapshots >"$WORK/usb-snapshots.txt"
grep -q "^$id " "$WORK/usb-snapshots.txt" || fail "the imported snapshot $id is not stored"
in_pi grep -q '"event":"ingested".*"via":"usb"' /var/lib/appliance/audit.log \
  || fail "the audit log does not say usb"
status_of >"$WORK/usb-status.txt"
grep -q 'last import (usb):.*1 accepted, 1 refused' "$WORK/usb-status.txt" || fail "status"
[[ $(in_pi systemctl is-active "appliance-usb-mount@$instance.service") != active ]] \
  || fail "the mount unit is still active after the import"
in_pi findmnt "/run/appliance-usb/$instance" >/dev/null && fail "the stick is still mounted"
as_appliance audit verify
losetup -d "$loop"
trap cleanup EXIT
