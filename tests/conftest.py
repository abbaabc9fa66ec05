"""Shared fixtures: real installations in temp dirs, a real server on 127.0.0.1."""

from __future__ import annotations

import itertools
import json
import sqlite3
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from appliance.cli.appliance_cli import main as appliance_main
from appliance.cli.sender_cli import main as sender_main
from appliance.core.config.settings import load_appliance_config, load_sender_config
from appliance.core.crypto import keys, seal
from appliance.core.watch.status import State
from appliance.devtools.synthetic import make_document
from appliance.devtools.webstack import WebStack
from appliance.devtools.webstack import free_port as free_port  # tests import it from here
from appliance.sender.outgoing import Sender

pytest_plugins = ["tests.cups_fixtures"]  # private_cups, capture_queue
BIN = Path(sys.executable).parent
# The test machine's clock is right, but no kernel here says it is synchronised: installations
# take it as an RTC (clock_trust). Tests of the clock rules write their own `[clock]`.
TRUSTED_CLOCK = "[clock]\nhas_rtc = true\n"


def run_cli(main, config: Path, *args: str, expect: int | None = 0):
    result = CliRunner().invoke(main, ["--config", str(config), *args], catch_exceptions=False)
    if expect is not None:
        assert result.exit_code == expect, result.output
    return result


@dataclass
class Installation:
    """An appliance and an enrolled sender, set up with the real CLI in a temp dir."""

    root: Path
    appliance_toml: Path
    sender_toml: Path
    extra_config: str = ""
    queue: object = None  # the capture queue (devtools.cups_harness) this appliance prints to
    cups: object = None  # the private cupsd
    memory_printer: object = None  # a MemoryPrinter instead of CUPS (memory_installation)

    @property
    def config(self):
        return load_appliance_config(self.appliance_toml)

    @property
    def sender(self) -> Sender:
        return Sender.load(load_sender_config(self.sender_toml))

    @property
    def state_dir(self) -> Path:
        return self.root / "appliance" / "state"

    def printer(self):
        """The CUPS adapter aimed at this installation's capture queue, or its memory
        printer."""
        if self.memory_printer is not None:
            return self.memory_printer
        from appliance.adapters.cups import CupsPrinter

        return CupsPrinter(self.queue.name, server=self.cups.server)

    def services(self, clock=None):
        """This installation's parts, built as a daemon builds them, printer included."""
        from appliance.core.services import Services

        has_printer = self.queue is not None or self.memory_printer is not None
        return Services(self.config, clock, printer=self.printer() if has_printer else None)

    def appliance(self, *args: str, expect: int | None = 0):
        if args[:1] == ("status",) and expect == 0:
            return self.status(*args[1:])
        return run_cli(appliance_main, self.appliance_toml, *args, expect=expect)

    def status(self, *args: str):
        """`appliance status ARGS`, whose exit code must be its state's (0 ready/printing,
        1 attention, 2 fault: State.exit_code), checked on every call."""
        result = run_cli(appliance_main, self.appliance_toml, "status", "--json", expect=None)
        state = State(json.loads(result.output)["state"])
        assert result.exit_code == state.exit_code, (state, result.exit_code, result.output)
        if "--json" in args:
            return result
        result = run_cli(appliance_main, self.appliance_toml, "status", *args, expect=None)
        assert result.exit_code == state.exit_code, (state, result.exit_code, result.output)
        return result

    def sender_cli(self, *args: str, expect: int | None = 0):
        return run_cli(sender_main, self.sender_toml, *args, expect=expect)

    def public_key(self) -> keys.AppliancePublicKey:
        return keys.parse_appliance_public_pem(
            (self.state_dir / "keys" / "appliance.pub").read_bytes(), "appliance.pub")

    def envelope(self, kind: str = "todo", *, produced_at: datetime | None = None,
                 pages: int = 2, content: bytes | None = None, marker: str | None = None,
                 recipient: keys.AppliancePublicKey | None = None,
                 unit: str = "Hemsjukvård Sölvesborg", clock=None) -> bytes:
        """A sealed snapshot of one document, produced at `produced_at` (default: now by
        `clock`, the system clock without one) and sealed at `clock`'s now."""
        now = clock.now() if clock else datetime.now(UTC)
        produced = produced_at or now
        if content is None:
            content = make_document(kind if kind in ("todo", "medications", "occupancy",
                                                     "relatives") else "todo",
                                    produced_at=produced, pages=pages, marker=marker)
        entry = seal.describe_document(kind, unit, "Att göra-lista", produced, content)
        return self.sender.seal_for([seal.Document(entry, content)],
                                    recipient or self.public_key(), now)

    def ingest(self, envelope: bytes, clock=None):
        """Ingest in-process, exactly as the web service would, received at `clock`'s now
        (the system clock without one)."""
        from appliance.core.intake.ingest import ingest
        from appliance.core.services import Services

        return ingest(Services(self.config, clock), envelope, remote="test")

    def refusal_detail(self) -> str:
        """The message of the newest refusal in the audit log: the detail the network's
        answer leaves out when it quotes what the envelope encrypts (docs/api.md)."""
        from appliance.core.services import Services

        refusals = [entry for entry in Services(self.config).audit.entries()
                    if entry.get("event") == "refused"]
        assert refusals, "no refusal in the audit log"
        return refusals[-1]["message"]

    def store_state(self) -> dict:
        """Everything that makes up the store: files with content and every index row."""
        files = {p.name: p.read_bytes() for p in (self.state_dir / "snapshots").iterdir()}
        db = sqlite3.connect(f"file:{self.state_dir / 'index.sqlite3'}?mode=ro", uri=True)
        try:
            rows = {table: sorted(db.execute(f"SELECT * FROM {table}").fetchall())
                    for table in ("snapshots", "documents", "sender_sequence")}
        finally:
            db.close()
        return {"files": files, "rows": rows}


def make_installation(root: Path, extra_config: str = "") -> Installation:
    runner = CliRunner()
    for main, sub in ((appliance_main, "appliance"), (sender_main, "sender")):
        result = runner.invoke(main, ["init", "--dir", str(root / sub)], catch_exceptions=False)
        assert result.exit_code == 0, result.output
    inst = Installation(root, root / "appliance" / "appliance.toml",
                        root / "sender" / "sender.toml", extra_config)
    with open(inst.appliance_toml, "a", encoding="utf-8") as handle:
        handle.write("\n" + TRUSTED_CLOCK + ("\n" + extra_config if extra_config else ""))
    pub = root / "sender.pub"
    pub.write_text(inst.sender_cli("pubkey").output)
    inst.appliance("senders", "add", "kontor-norr", str(pub))
    return inst


@pytest.fixture
def installation(tmp_path: Path, private_cups, capture_queue, monkeypatch) -> Installation:
    """An installation whose printer is a capture queue on the session's private cupsd.

    The CLI (in-process or not) and `appliance serve` find that cupsd by `CUPS_SERVER`, as on
    an appliance; code built in a test gets `installation.printer()` passed in."""
    monkeypatch.setenv("CUPS_SERVER", private_cups.server)
    inst = make_installation(tmp_path, f'[printing]\nqueue = "{capture_queue.name}"\n')
    inst.queue = capture_queue
    inst.cups = private_cups
    return inst


@pytest.fixture
def memory_installation(tmp_path: Path, monkeypatch) -> Installation:
    """An installation whose printer is in memory (tests/memory_printer.py), for tests that
    need a printer but none of CUPS' behaviour; no cupsd is involved. `CUPS_SERVER` points
    at a socket that does not exist, so a CLI command that does reach for CUPS finds it
    unreachable here rather than the machine's own cupsd."""
    from tests.memory_printer import MemoryPrinter

    monkeypatch.setenv("CUPS_SERVER", str(tmp_path / "no-cupsd-here.sock"))
    inst = make_installation(tmp_path, '[printing]\nqueue = "memory"\n')
    inst.memory_printer = MemoryPrinter()
    return inst


class Server(WebStack):
    """The installation's web service, nginx in front of `appliance serve`, as production
    runs it (appliance.devtools.webstack); `kill()` is a power cut."""

    def __init__(self, installation: Installation) -> None:
        super().__init__(installation.appliance_toml, installation.root)
        self.installation = installation


@pytest.fixture
def server(installation: Installation):
    srv = Server(installation).start()
    yield srv
    srv.stop()


def post(url: str, body: bytes, content_type: str = "application/octet-stream",
         timeout: float = 60) -> tuple[int, dict]:
    """POST and return (status, JSON body) for success and error statuses alike."""
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def get_json(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


DEVICE_STALLED_AFTER = 3  # printing.stalled_after_seconds of `device_installation`
_device_numbers = itertools.count(1)


@pytest.fixture
def device_installation(tmp_path, private_cups, monkeypatch, request):
    """`make(device_uri)`: an appliance whose queue prints to DEVICE_URI on the private
    cupsd, with a short stall time; queues and their jobs are removed afterwards."""
    monkeypatch.setenv("CUPS_SERVER", private_cups.server)
    made = []

    def make(device_uri: str):
        queue = private_cups.add_device_queue(f"dev_{next(_device_numbers)}", device_uri)
        made.append(queue)
        inst = make_installation(tmp_path / queue, f'[printing]\nqueue = "{queue}"\n'
                                 f"stalled_after_seconds = {DEVICE_STALLED_AFTER}\n")
        inst.cups = private_cups
        inst.device_queue = queue
        return inst

    yield make
    for queue in made:
        private_cups.run("cancel", "-a", queue, check=False)
        private_cups.run("lpadmin", "-x", queue, check=False)
