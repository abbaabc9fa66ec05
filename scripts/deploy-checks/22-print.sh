# shellcheck shell=bash disable=SC2154  # sourced by scripts/test-deploy: its variables
# needs: 21-push
# `appliance print --wait` inside, with the key credential: the kit captured by the capture
# backend has every page `print` reported, more than the pushed list's 3.
step "appliance print --wait inside: the captured kit has every page"
with_key print --wait | tee "$WORK/print.out"
pages=$(grep -oE '[0-9]+ pages' "$WORK/print.out" | head -1 | cut -d' ' -f1)
captured=$(in_pi /opt/appliance/venv/bin/python -c '
import glob, pikepdf
files = sorted(glob.glob("/var/spool/appliance-capture/*.pdf"))
print(len(pikepdf.open(files[-1]).pages) if files else 0)')
echo "kit: $pages pages, captured: $captured"
[[ -n $pages && $pages -gt 3 && $captured == "$pages" ]] || fail "captured kit incomplete"
