# shellcheck shell=bash disable=SC2154  # sourced by scripts/test-deploy: its variables
# needs: 11-first-apply
# Printer failover (docs/printing.md, "Failover: a class of printers"): the role applied again
# with appliance_printer_class_members turns the queue `kit` into a class of two capture
# printers, idempotently; one printer jammed, the kit comes out of the other, once, and the
# printer's condition is `degraded`. Then the single queue is put back for later checks.
step "printer class: the queue becomes a class of two printers"
CLASS_VARS='{"appliance_printer_class_members": [
  {"name": "kit_a", "model": "raw", "info": "Skrivaren i expeditionen",
   "uri": "capture:/var/spool/appliance-capture-a?fault=/var/spool/appliance-capture-a/fault"},
  {"name": "kit_b", "model": "raw", "info": "Skrivaren i rum 2",
   "uri": "capture:/var/spool/appliance-capture-b?fault=/var/spool/appliance-capture-b/fault"}]}'
timed class_apply apply "$PI" class -e "$CLASS_VARS"
apply "$PI" class-again -e "$CLASS_VARS"
grep -qE "^$PI +: .* changed=0 " "$WORK/class-again.log" \
  || { grep -B3 '^changed' "$WORK/class-again.log"; fail "second class apply changed something"; }
[[ $(in_pi lpstat -c kit | tail -n +2 | tr -d '\t' | sort | tr '\n' ' ') == "kit_a kit_b " ]] \
  || fail "class kit does not hold kit_a and kit_b: $(in_pi lpstat -c kit)"

step "printer class: kit_a jammed, the kit comes out of kit_b once, condition degraded"
in_pi sh -c 'echo media-jam >/var/spool/appliance-capture-a/fault'
in_pi lp -d kit_a /etc/hostname >/dev/null  # kit_a reports the jam on a job, as a printer does
for _ in $(seq 60); do
  as_appliance printer --json >"$WORK/class-printer.json" 2>/dev/null || true
  grep -q '"condition": "degraded"' "$WORK/class-printer.json" && break
  sleep 1
done
grep -q '"condition": "degraded"' "$WORK/class-printer.json" \
  || fail "condition not degraded: $(cat "$WORK/class-printer.json")"
in_pi cancel -a kit_a
with_key print --wait | tee "$WORK/class-print.out"
count() { in_pi sh -c "ls $1/*.pdf 2>/dev/null | wc -l"; }
[[ $(count /var/spool/appliance-capture-b) == 1 && $(count /var/spool/appliance-capture-a) == 0 ]] \
  || fail "kit not exactly once at kit_b: a=$(count /var/spool/appliance-capture-a) b=$(count /var/spool/appliance-capture-b)"
status_of --json | contains '"condition": "degraded"' || fail "status not degraded"

step "printer class: back to the single queue"
in_pi rm -f /var/spool/appliance-capture-a/fault
in_pi lpadmin -x kit
apply "$PI" single-again
[[ $(in_pi lpstat -v kit) == "device for kit: capture:/var/spool/appliance-capture" ]] \
  || fail "single queue not restored: $(in_pi lpstat -v kit)"
