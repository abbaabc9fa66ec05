"""The README's demo: an appliance and a sender in ./demo-run, fictional lists pushed to it,
and the outage kit printed to a capture printer whose output lands in ./demo-run/*.pdf.

Everything runs as the current user on 127.0.0.1, with the same commands IT would use. The
printer is a private cupsd with a capture backend (the test suite's, so run the demo from
a source checkout: `./scripts/demo`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cups

from appliance.devtools.cups_harness.harness import PrivateCups
from appliance.devtools.synthetic import make_document
from appliance.devtools.webstack import WebStack, WebStackError

BIN = Path(sys.executable).parent
DEMO_REPEAT_GUARD_SECONDS = 3
OUTBOX_CONFIG = """
[outbox]
dir = "outbox"
stable_seconds = 1
""" + "".join(f'[[outbox.rules]]\nglob = "{kind}*.pdf"\nkind = "{kind}"\n'
              for kind in ("todo", "medications", "occupancy", "relatives"))
LISTS = [  # kind, pages, hours before now that the record system produced it
    ("todo", 3, 0.5),
    ("medications", 4, 1.0),
    ("occupancy", 1, 20.0),
    ("relatives", 1, 20.0),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", default="demo-run", help="where to put the demo installation")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--interactive", action="store_true",
                        help="press the simulated button yourself (type press / hold / quit)")
    args = parser.parse_args()
    root = Path(args.dir).resolve()
    if root.exists():
        shutil.rmtree(root)
    appliance_toml = root / "appliance" / "appliance.toml"
    sender_toml = root / "sender" / "sender.toml"

    def appliance(*argv: str) -> None:
        # `status` exits with its state (0 ready, 1 attention, 2 fault): each is an answer.
        _run("appliance", "--config", str(appliance_toml), *argv,
             answers=(0, 1, 2) if argv[:1] == ("status",) else (0,))

    def sender(*argv: str) -> None:
        _run("appliance-sender", "--config", str(sender_toml), *argv)

    _step("Create the appliance (key pair, config) and an office PC sender")
    _run("appliance", "init", "--dir", str(root / "appliance"))
    _run("appliance-sender", "init", "--dir", str(root / "sender"))
    (root / "appliance.pub").write_text(_capture("appliance", "--config", str(appliance_toml),
                                                 "pubkey"))
    (root / "sender.pub").write_text(_capture("appliance-sender", "--config", str(sender_toml),
                                              "pubkey"))
    with open(sender_toml, "a", encoding="utf-8") as config:
        config.write(OUTBOX_CONFIG)
    _step("Enrol them with each other (public keys only)")
    appliance("senders", "add", "kontor-slottsgarden", str(root / "sender.pub"))
    url = f"http://127.0.0.1:{args.port}"
    sender("appliances", "add", "jourrum", url, str(root / "appliance.pub"))

    with PrivateCups() as cupsd:
        _run_with_printer(root, cupsd, appliance, sender, appliance_toml, url, args.port,
                          args.interactive)


def _run_with_printer(root, cupsd, appliance, sender, appliance_toml, url, port,
                      interactive) -> None:
    queue = cupsd.add_capture_queue("reservskrivare")
    os.environ["CUPS_SERVER"] = cupsd.server  # the appliance's CUPS is the private one
    with open(appliance_toml, "a", encoding="utf-8") as config:
        config.write(f'\n[printing]\nqueue = "{queue.name}"\n')
        # One kit in flight, and none again within the repeat guard (15 s on an appliance):
        # shortened so the demo's second kit need not wait long.
        config.write(f"\n[panel]\nrepeat_guard_seconds = {DEMO_REPEAT_GUARD_SECONDS}\n")
    _step(f"Start the appliance's web service on {url}: nginx in front of gunicorn, as the "
          "systemd units run them (`appliance serve`, `appliance proxy-config`)")
    server = WebStack(appliance_toml, root, port=port)
    try:
        try:
            server.start()
        except WebStackError as exc:
            sys.exit(f"demo: {exc}")
        _step("The record system exports fictional lists into the office PC's outbox; the "
              "sender agent seals and delivers them (one pass: `sync`)")
        outbox = root / "sender" / "outbox"
        outbox.mkdir()
        now = datetime.now(UTC)
        for kind, pages, hours in LISTS:
            produced = now - timedelta(hours=hours)
            pdf = outbox / f"{kind}.pdf"
            pdf.write_bytes(make_document(kind, produced_at=produced, pages=pages))
            os.utime(pdf, (produced.timestamp(), produced.timestamp()))  # export time
        sender("sync")
        sender("status")
        _step("By hand, the same delivery is `appliance-sender push`")
        sender("push", str(outbox / "todo.pdf"), "--kind", "todo")
        _step("A tampered snapshot is refused, and the good ones stay")
        sealed = root / "todo.seal"
        sender("seal", str(outbox / "todo.pdf"), "--kind", "todo", "--recipient",
               str(root / "appliance.pub"), "-o", str(sealed))
        tampered = bytearray(sealed.read_bytes())
        tampered[len(tampered) // 2] ^= 0xFF
        print(_post(url + "/api/v1/snapshots", bytes(tampered)))
        _step("What the appliance holds (`appliance status`, `appliance snapshots`)")
        appliance("status")
        appliance("snapshots")
        _step("The same status as JSON: GET /api/v1/status")
        with urllib.request.urlopen(url + "/api/v1/status", timeout=10) as response:
            print(json.dumps(json.load(response), indent=2, ensure_ascii=False))
        _step("The outage: the network is gone, a nurse presses the button")
        appliance("printer")
        _press_simulated_button(appliance_toml, interactive)
        button_kit = cupsd.wait_for(lambda: queue.captured(), timeout=60,
                                    what="the button's kit")[0]
        kits = [root / "kit-button.pdf"]
        shutil.copyfile(button_kit.path, kits[0])
        cupsd.wait_for(lambda: cupsd.job_state(button_kit.job_id) == cups.IPP_JOB_COMPLETED,
                       timeout=30, what="the button's job completed")
        time.sleep(DEMO_REPEAT_GUARD_SECONDS)  # or `appliance print` says: already on its way
        _step("The same path from the command line, profile `full` (all lists and forms)")
        appliance("print", "--profile", "full", "--wait")  # completed = captured
        kits.append(root / "kit-full.pdf")
        shutil.copyfile(queue.captured()[-1].path, kits[-1])
        _step("Who sent what, what was refused, what was printed: the audit log")
        appliance("audit", "verify")
        print(f"\nDemo installation: {root}\n(server log: {server.log_path})")
        print("\nOpen the printed kits (fictional data):")
        for kit in kits:
            print(f"  {kit}")
    finally:
        server.stop()


def _press_simulated_button(appliance_toml: Path, interactive: bool) -> None:
    """Run `appliance panel --simulate`: mock GPIO pins, `led: <state>` on stdout. Presses
    once by itself, or lets the person at the terminal press (and hold) the button."""
    command = [str(BIN / "appliance"), "--config", str(appliance_toml), "panel", "--simulate"]
    print("$ appliance " + " ".join(command[1:]), flush=True)
    panel = subprocess.Popen(command, stdin=subprocess.PIPE, text=True)
    try:
        time.sleep(1.5)  # let the LED show the state before the press
        if interactive:
            print("Type `press` (short press: to-do lists + forms), `hold` (long press: "
                  "everything), or `quit` when done.", flush=True)
            for line in sys.stdin:
                panel.stdin.write(line)
                panel.stdin.flush()
                if line.strip() in ("quit", "exit"):
                    break
        else:
            panel.stdin.write("press\n")
            panel.stdin.flush()
            time.sleep(4)  # the kit is composed, sent and printed; the LED settles
            panel.stdin.write("quit\n")
            panel.stdin.flush()
        panel.stdin.close()
        panel.wait(timeout=30)
    finally:
        if panel.poll() is None:
            panel.kill()


def _step(title: str) -> None:
    print(f"\n== {title}", flush=True)


def _run(*argv: str, answers: tuple[int, ...] = (0,)) -> None:
    print("$ " + " ".join(argv), flush=True)
    result = subprocess.run([str(BIN / argv[0]), *argv[1:]], check=False)
    if result.returncode not in answers:
        sys.exit(f"demo: command failed with status {result.returncode}")


def _capture(*argv: str) -> str:
    return subprocess.run([str(BIN / argv[0]), *argv[1:]], check=True, capture_output=True,
                          text=True).stdout


def _post(url: str, body: bytes) -> str:
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/octet-stream"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return f"{response.status} {response.read().decode()}"
    except urllib.error.HTTPError as exc:
        return f"{exc.code} {exc.read().decode()}"


if __name__ == "__main__":
    main()
