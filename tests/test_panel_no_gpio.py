"""A panel whose GPIO cannot be opened (a Pi with a broken header, a container, this
machine): the daemon is up for systemd, keeps its watchdog fed while it retries, and IT
sees why on `status`, `/metrics` and the kiosk. No crash loop, no failed start.

The real `appliance panel` runs as under systemd (NOTIFY_SOCKET, WATCHDOG_USEC); the pin
factory is lgpio, the one an appliance uses, which on a machine that is not a Pi fails as a
Pi without usable GPIO does (gpiozero raises before any pin is opened).
"""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import socket
import subprocess
import time
import uuid

import pytest

from appliance.adapters.web import create_app
from appliance.adapters.web.kiosk_text import Texts
from appliance.core.records.panel_health import STATE_FILE
from tests.conftest import BIN
from tests.test_metrics import parse, value

WATCHDOG_SECONDS = 4  # the unit's WatchdogSec, as the test gives it
LISTEN_SECONDS = 9  # past the retries after 1, 2 and into the 5 s wait


def gpio_that_fails() -> str | None:
    """Why lgpio would work here (then this machine is a Pi: skip), or None."""
    try:
        from gpiozero.pins.lgpio import LGPIOFactory
    except ImportError as exc:  # lgpio is a dependency on Linux: a broken install
        pytest.fail(f"lgpio missing from the venv ({exc}); see pyproject.toml")
    try:
        LGPIOFactory().close()
    except Exception:
        return None
    return "this machine has working GPIO"


@pytest.fixture
def panel_daemon(installation, tmp_path):
    reason = gpio_that_fails()
    if reason:
        pytest.skip(reason)
    with open(installation.appliance_toml, "a", encoding="utf-8") as handle:
        handle.write('\n[panel]\npin_factory = "lgpio"\n')
    address = f"appliance-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        notify.bind("\0" + address)
        process = subprocess.Popen(
            [str(BIN / "appliance"), "--config", str(installation.appliance_toml), "panel"],
            env={**os.environ, "NOTIFY_SOCKET": "@" + address,
                 "WATCHDOG_USEC": str(WATCHDOG_SECONDS * 1_000_000)},
            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            yield installation, process, notify
        finally:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=10)


def messages(notify: socket.socket, seconds: float) -> list[tuple[float, str]]:
    """What the daemon told systemd for `seconds`, with the arrival time of each."""
    received = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        notify.settimeout(left)
        try:
            received.append((time.monotonic(), notify.recv(4096).decode()))
        except TimeoutError:
            break
    return received


def test_without_gpio_the_daemon_is_up_feeds_the_watchdog_and_says_why(panel_daemon):
    inst, process, notify = panel_daemon
    started = time.monotonic()
    told = messages(notify, LISTEN_SECONDS)
    texts = [text for _, text in told]
    assert process.poll() is None, process.stdout.read().decode()  # still running
    assert "READY=1" in texts, texts  # systemd's start completes: no failed unit
    assert texts.count("READY=1") == 1
    waiting = [t for t in texts if t.startswith("STATUS=waiting for GPIO: ")]
    assert len(waiting) >= 3, texts  # one per attempt: at 0, 1 and 3 s
    pings = [started] + [at for at, text in told if text == "WATCHDOG=1"]
    gaps = [later - earlier for earlier, later in itertools.pairwise(pings)]
    assert len(gaps) >= 4 and max(gaps) < WATCHDOG_SECONDS, gaps  # never killed

    status = json.loads(inst.appliance("status", "--json").output)
    assert status["panel"]["gpio"] == "waiting" and status["panel"]["fault"] is True
    assert status["panel"]["reason"]  # gpiozero's own words, for IT
    assert "panel: waiting since" in inst.appliance("status").output
    assert "FAULT, the button and LED do not work" in inst.appliance("status").output

    app = create_app(inst.config, printer=inst.printer())
    client = app.test_client()
    metrics = client.get("/metrics").get_data(as_text=True)
    assert value(parse(metrics)[0], "appliance_panel_gpio_ready") == 0
    view = client.get("/kiosk/view").get_data(as_text=True)
    assert Texts("sv")("panel.fault") in view  # nurses: print on the screen instead
    assert client.get("/api/v1/status").get_json()["panel"]["fault"] is True

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=15) == 0
    stopped = json.loads((inst.state_dir / STATE_FILE).read_text())
    assert stopped["gpio"] == "stopped"
    metrics = client.get("/metrics").get_data(as_text=True)
    assert not re.search(r"^appliance_panel_gpio_ready ", metrics, re.MULTILINE)
    assert Texts("sv")("panel.fault") not in client.get("/kiosk/view").get_data(as_text=True)


def test_no_panel_ever_run_is_no_fault(installation):
    status = json.loads(installation.appliance("status", "--json").output)
    assert "panel" not in status
    assert "panel:" not in installation.appliance("status").output
