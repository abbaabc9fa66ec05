# shellcheck shell=bash disable=SC2154  # sourced by scripts/test-deploy: its variables
# needs: 10-update 21-push
# A4 on a Letter printer (docs/deployment.md, step 5; ansible/roles/appliance/README.md,
# appliance_printer_media). The printer is an emulated IPP Everywhere printer whose default
# paper is Letter: ippeveprinter from Debian's cups-ipp-utils, run in the sender container
# (the containers share the host's network; Debian 12's ippeveprinter needs a running Avahi).
# The printer prints both sides (-2), as the example inventory's appliance_print_options
# (sides: two-sided-long-edge) needs: a one-sided IPP printer cancels such a job ("Printer
# cannot print with supplied options", docs/printing.md). It keeps its documents under
# /var/lib (StateDirectory), not /run: the container's /run is its own tmpfs, which the
# host cannot read through the rig's root path.
# The role re-applied with that printer as the queue's device: the kit must arrive on A4
# pages, unscaled; a control queue to the same printer without the role's default paper
# shows the same document shrunk to Letter. Last of the checks: it leaves the queue on the
# IPP printer.
step "A4 kit on a Letter-default IPP Everywhere printer (ippeveprinter)"
ipp_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$RIG" exec "$PC" env DEBIAN_FRONTEND=noninteractive bash -c 'apt-get install -y -qq \
  --no-install-recommends cups-ipp-utils avahi-daemon >/dev/null && systemctl start avahi-daemon' \
  || fail "ippeveprinter: install cups-ipp-utils avahi-daemon in $PC"
ipp_uri="ipp://127.0.0.1:$ipp_port/ipp/print"
letter_printer_on() { # start the emulated printer (again: 91 switches it off and on)
  "$RIG" exec "$PC" systemd-run --unit=letter-printer --collect -p StateDirectory=letter-printer \
    /usr/sbin/ippeveprinter -2 -k -d /var/lib/letter-printer -p "$ipp_port" -m "Letter Office" \
    -f application/pdf,image/pwg-raster -r off "Letter Office" >/dev/null
  local deadline=$((SECONDS + 30))
  until "$RIG" exec "$PC" ipptool -q "$ipp_uri" get-printer-attributes.test 2>/dev/null; do
    ((SECONDS < deadline)) || fail "ippeveprinter does not answer on $ipp_uri"; sleep 1
  done
}
letter_printer_on
"$RIG" exec "$PC" ipptool -tv "$ipp_uri" get-printer-attributes.test | contains 'media-default (keyword) = na_letter_8.5x11in' \
  || fail "the emulated printer's default paper is not Letter"

kept_pages() { # kept_pages: the page sizes (points) of the newest document the printer kept
  local newest
  newest=$("$RIG" exec "$PC" bash -c 'ls -t /var/lib/letter-printer/*.pdf 2>/dev/null | head -1')
  [[ -n $newest ]] || return 0
  cp "$("$RIG" root "$PC")$newest" "$WORK/kept.pdf"
  .venv/bin/python -c '
import sys, pikepdf
print(" ".join(sorted({"%dx%d" % (round(float(p.mediabox[2] - p.mediabox[0])),
                                  round(float(p.mediabox[3] - p.mediabox[1])))
                       for p in pikepdf.open(sys.argv[1]).pages})))' "$WORK/kept.pdf"
}
wait_kept() { # wait_kept COUNT: until the printer has kept COUNT documents
  local deadline=$((SECONDS + 120))
  until [[ $("$RIG" exec "$PC" bash -c 'ls /var/lib/letter-printer/*.pdf 2>/dev/null | wc -l') -ge $1 ]]; do
    ((SECONDS < deadline)) || fail "the emulated printer got no document ($1)"; sleep 1
  done
}

apply "$PI" a4 -e "appliance_printer_uri=$ipp_uri" -e appliance_printer_model=everywhere \
  -e '{"appliance_printer_capture_backend": false,
       "appliance_cups_packages": ["cups-daemon", "cups-client", "cups-filters"]}'
in_pi lpoptions -p kit | contains 'media=iso_a4_210x297mm' || fail "the queue's default paper is not A4"

# The control: the same printer, a queue without the role's default paper.
in_pi lpadmin -p letter-control -E -v "$ipp_uri" -m everywhere
cp "$WORK/todo.pdf" "$("$RIG" root "$PI")/var/tmp/a4.pdf"
in_pi lp -d letter-control /var/tmp/a4.pdf >/dev/null
wait_kept 1
control=$(kept_pages)
echo "control queue (printer's default paper): $control"
[[ $control == "612x792" ]] || fail "the control did not come out on Letter ($control): the check proves nothing"

printed=$(with_key print --wait 2>&1) || { echo "$printed"; in_pi lpstat -l -p -o || true
  fail "print --wait to the IPP printer"; }
wait_kept 2
kit=$(kept_pages)
echo "the appliance's queue: $kit"
[[ $kit == "595x842" ]] || fail "the kit on the Letter printer is $kit, not A4 (595x842)"
in_pi lpadmin -x letter-control
