"""Helpers of the tests that print through the one print service from several processes."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator

from tests.conftest import BIN

GUARD_CONFIG = """
[panel]
repeat_guard_seconds = 600
poll_seconds = 0.2
bounce_seconds = 0.01
"""


def audit_events(inst, event: str) -> list[dict]:
    lines = (inst.state_dir / "audit.log").read_text().splitlines()
    return [entry for entry in map(json.loads, lines) if entry["event"] == event]


def with_guard_config(inst):
    """A long repeat guard (nothing prints twice by accident) and a quick panel."""
    with open(inst.appliance_toml, "a", encoding="utf-8") as handle:
        handle.write(GUARD_CONFIG)
    return inst


def simulated_panel(inst) -> subprocess.Popen:
    """`appliance panel --simulate` (MockFactory pins; `press`/`quit` on stdin), running."""
    panel = subprocess.Popen(
        [str(BIN / "appliance"), "--config", str(inst.appliance_toml), "panel", "--simulate"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=inst.cups.env())
    assert panel.stdout.readline().strip() == "led: ready"
    return panel


def send(panel: subprocess.Popen, command: str) -> None:
    panel.stdin.write(command + "\n")
    panel.stdin.flush()


def first_kit_then_quit(inst, panel: subprocess.Popen) -> None:
    """Wait until a kit is captured and audited (every caller has decided by then), then
    stop the simulated panel cleanly."""
    inst.cups.wait_for(lambda: inst.queue.captured(), timeout=20, what="one kit")
    inst.cups.wait_for(lambda: len(audit_events(inst, "printed")) >= 1, timeout=20,
                       what="the kit audited")
    send(panel, "quit")
    assert panel.wait(timeout=30) == 0


@contextlib.contextmanager
def another_process_holding(lock: str, inst, seconds: float = 600) -> Iterator[None]:
    """A separate process holding one of the print guard's locks ("composing" or
    "record_lock") of `inst` for `seconds`; killed with SIGKILL on leaving, as a crash."""
    script = ("import sys, time\n"
              "from appliance.core.printing.print_guard import PrintGuard\n"
              f"with PrintGuard(sys.argv[1]).{lock}():\n"
              "    print('holding', flush=True)\n"
              f"    time.sleep({seconds})\n")
    holder = subprocess.Popen([sys.executable, "-c", script, str(inst.state_dir)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        yield
    finally:
        holder.kill()
        holder.wait(timeout=10)
