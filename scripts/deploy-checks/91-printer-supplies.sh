# shellcheck shell=bash disable=SC2154  # sourced by scripts/test-deploy: its variables
# needs: 90-a4-ipp-printer
# The daily supplies check (docs/printing.md, "The daily supplies check") against the
# emulated IPP Everywhere printer 90 leaves the queue on: `appliance printer check` asks it
# and no page comes out, no CUPS job is made; switched off it does not answer (exit 2), on
# again it does. The jobs service has checked on its own since it started.
step "supplies check against the IPP printer: asked without a page; off and on again"
kept_count() { "$RIG" exec "$PC" bash -c 'ls /var/lib/letter-printer/*.pdf 2>/dev/null | wc -l'; }
jobs_count() { in_pi lpstat -W all -o | wc -l; }
kept_before=$(kept_count) jobs_before=$(jobs_count)
in_pi test -s /var/lib/appliance/printer-supplies.json \
  || fail "the jobs service has not run a supplies check (no printer-supplies.json)"

answered() { # answered JSON-FILE: the first printer's answer, or fail
  .venv/bin/python -c '
import json, sys
printer = json.load(open(sys.argv[1]))["printers"][0]
print(printer["answered"], printer["detail"], [(s["name"], s["level"]) for s in printer["supplies"]],
      printer["warnings"])' "$1"
}
rc=0; as_appliance printer check --json >"$WORK/supplies-on.json" || rc=$?
((rc <= 1)) || { cat "$WORK/supplies-on.json"; fail "printer check exited $rc with the printer on"; }
on=$(answered "$WORK/supplies-on.json"); echo "printer on: $on"
[[ $on == True* ]] || fail "the IPP printer did not answer the supplies check: $on"
[[ $on == *"the IPP printer answered ["*"', "[0-9]* ]] \
  || fail "no supply levels from the IPP printer (its printer-supply): $on"

"$RIG" exec "$PC" systemctl stop letter-printer
rc=0; as_appliance printer check >"$WORK/supplies-off.txt" || rc=$?
cat "$WORK/supplies-off.txt"
((rc == 2)) || fail "printer check exited $rc with the printer off, not 2"
contains 'DID NOT ANSWER' <"$WORK/supplies-off.txt" || fail "the check did not say it had no answer"

letter_printer_on
rc=0; as_appliance printer check --json >"$WORK/supplies-again.json" || rc=$?
((rc <= 1)) || fail "printer check exited $rc with the printer on again"
[[ $(answered "$WORK/supplies-again.json") == True* ]] || fail "no answer after switching it on"
status_of --json >"$WORK/status-supplies.json"
.venv/bin/python -c '
import json, sys
supplies = json.load(open(sys.argv[1]))["printer"]["supplies"]
assert supplies["printers"][0]["answered"] is True, supplies' "$WORK/status-supplies.json" \
  || fail "status --json has no printer.supplies with the last answer"

[[ $(kept_count) == "$kept_before" ]] || fail "the supplies check printed a page"
[[ $(jobs_count) == "$jobs_before" ]] || fail "the supplies check made a CUPS job"
