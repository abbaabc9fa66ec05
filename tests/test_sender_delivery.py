"""Issue 8 §4: an export the appliance refuses (413: larger than its limit) is failed at once
with the limit named, and no export's or appliance's trouble delays any other delivery.

Real parts: real appliance servers (nginx + gunicorn, tests.conftest.Server), the real agent
and the real `appliance-sender status`. An unlucky network is a real TCP relay that carries
64 KiB/s towards the appliance (`SlowLink`); a hung appliance is a real one stopped with
SIGSTOP (the kernel still accepts connections, nothing answers until the push timeout).
"""

from __future__ import annotations

import contextlib
import io
import json
import random
import signal
import socket
import threading
import time
from collections.abc import Callable
from datetime import timedelta

import pikepdf
import pytest

from appliance.core.base.clock import FixedClock, isoformat_utc
from appliance.devtools.synthetic import make_document
from appliance.devtools.webstack import signal_group
from appliance.sender.agent import Agent
from tests.conftest import get_json, post
from tests.test_sender_agent import STABLE, Site, export, local, make_site  # noqa: F401

LIMIT_MB = 1  # web.max_snapshot_mb of the appliance that refuses
OVERSIZE = 8 * 1024 * 1024  # the medication list: more than the sender's socket buffers hold
LINK_RATE = 64 * 1024  # bytes a second towards the appliance on the slow link
PUSH_TIMEOUT = 20  # push.timeout_seconds in these tests
# What "promptly" means here: far below what the trouble costs (the push timeout, or half a
# minute writing the oversize body into the slow link), far above what a delivery takes.
PROMPTLY = 8.0


class SlowLink:
    """A slow network path to a server: a TCP relay on 127.0.0.1 carrying at most `rate`
    bytes a second towards the server (answers come back unthrottled). Like a router, it
    resets the client's connection when the server's end is gone."""

    CHUNK = 8 * 1024

    def __init__(self, target_port: int, rate: int) -> None:
        self.target_port, self.rate = target_port, rate
        self.bytes_to_server = 0
        self._closed = threading.Event()
        self._listener = socket.socket()
        # A small window, so the sender feels the link's speed instead of filling buffers.
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def start(self) -> SlowLink:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def close(self) -> None:
        self._closed.set()
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target_port))
            threading.Thread(target=self._to_server, args=(client, server), daemon=True).start()
            threading.Thread(target=self._to_client, args=(server, client), daemon=True).start()

    def _to_server(self, client: socket.socket, server: socket.socket) -> None:
        try:
            while chunk := client.recv(self.CHUNK):
                server.sendall(chunk)
                self.bytes_to_server += len(chunk)
                if self._closed.wait(len(chunk) / self.rate):  # the link's pace
                    break
            server.shutdown(socket.SHUT_WR)
        except OSError:  # the server closed: so does the path to the client
            with contextlib.suppress(OSError):
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
            client.close()
            server.close()

    def _to_client(self, server: socket.socket, client: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while chunk := server.recv(self.CHUNK):
                client.sendall(chunk)
            client.shutdown(socket.SHUT_WR)


def limit_to(site: Site, name: str, mb: int) -> None:
    toml = site.appliances[name].appliance_toml
    text = toml.read_text()
    assert "max_snapshot_mb = 64" in text
    toml.write_text(text.replace("max_snapshot_mb = 64", f"max_snapshot_mb = {mb}"))


def route(site: Site, name: str, url: str) -> None:
    """Deliver to appliance NAME at `url` instead (through a slow link, say)."""
    pub = site.root / f"{name}.pub"
    site.sender.sender_cli("appliances", "remove", name)
    site.sender.sender_cli("appliances", "add", name, url, str(pub))


def oversize_export(site: Site):
    """A printable medication list of OVERSIZE bytes (padded with an unused stream)."""
    produced = local(6, 50)
    pdf = pikepdf.open(io.BytesIO(make_document("medications", produced_at=produced)))
    pdf.Root.Padding = pdf.make_stream(random.Random(0).randbytes(OVERSIZE))
    content = io.BytesIO()
    pdf.save(content)
    return export(site, "lakemedel.pdf", produced, kind="medications",
                  content=content.getvalue())


def ready_to_deliver(site: Site) -> tuple[Agent, FixedClock]:
    """An agent that has seen the oversize medication list (06:50) and a to-do list
    (06:55) stay unchanged long enough: its next pass delivers them."""
    clock = FixedClock(local(7, 0))
    oversize_export(site)
    export(site, "todo.pdf", local(6, 55))
    agent = site.agent(clock)
    agent.tick()
    clock.advance(timedelta(seconds=STABLE))
    return agent, clock


def wait_for(condition: Callable[[], bool], seconds: float) -> bool:
    """True as soon as `condition` holds; False when `seconds` pass first."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        threading.Event().wait(0.02)
    return True


def delivered(agent, appliance: str, *names: str) -> Callable[[], bool]:
    return lambda: all(agent.queue.delivered.get(name, {}).get(appliance) for name in names)


def in_background(call: Callable[[], object]) -> threading.Thread:
    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    return thread


@pytest.fixture
def new_site(make_site):  # noqa: F811 - the fixture, imported above
    """make(*names, start=True): tests.test_sender_agent's site, with PUSH_TIMEOUT as the
    sender's push timeout."""

    def make(*names: str, start: bool = True) -> Site:
        site = make_site(*names, start=start)
        toml = site.sender.sender_toml
        text = toml.read_text()
        assert "timeout_seconds = 10\n" in text
        toml.write_text(text.replace("timeout_seconds = 10\n",
                                     f"timeout_seconds = {PUSH_TIMEOUT}\n"))
        return site

    return make


@pytest.fixture
def slow_links():
    links: list[SlowLink] = []

    def make(port: int) -> SlowLink:
        links.append(link := SlowLink(port, LINK_RATE).start())
        return link

    yield make
    for link in links:
        link.close()


@pytest.fixture
def frozen():
    """freeze(server): SIGSTOP its processes; thawed (SIGCONT) again at the end."""
    servers = []

    def freeze(server) -> None:
        servers.append(server)
        for process in server.processes:
            signal_group(process, signal.SIGSTOP)

    yield freeze
    for server in servers:
        for process in server.processes:
            signal_group(process, signal.SIGCONT)


# ---------------------------------------------------------------- the scenario


def test_oversize_export_fails_at_once_naming_the_limit_and_the_next_one_is_delivered(
        new_site, slow_links):
    site = new_site(start=False)
    limit_to(site, "jourrum", LIMIT_MB)
    server = site.servers["jourrum"].start()
    link = slow_links(server.port)
    route(site, "jourrum", link.url)
    limit = get_json(server.url + "/api/v1/status")[1]["limits"]["max_body_bytes"]
    agent, clock = ready_to_deliver(site)

    report = agent.tick()
    assert (report.delivered, report.failed, report.retrying, report.pending) == (1, 1, 0, 0)
    assert [row["documents"][0]["kind"] for row in site.snapshots("jourrum")] == ["todo"]
    assert link.bytes_to_server < limit  # the refusal came before the body was sent
    [failed] = agent.queue.failed("jourrum")
    error = failed.last_error
    assert (failed.kind, failed.attempts, error["status"], error["error"]) == (
        "medications", 1, 413, "too_large")
    assert f"limit of {limit} bytes" in error["message"]

    result = site.sender.sender_cli("status", expect=1)
    [problem] = [line for line in result.output.splitlines() if "refused for good" in line]
    assert "jourrum: the medications export produced" in problem
    assert "HTTP 413 too_large" in problem and f"limit of {limit} bytes" in problem
    assert "lakemedel" not in result.output

    for _ in range(3):  # refused for good: never sent again by itself
        clock.advance(timedelta(hours=1))
        report = agent.tick()
        assert (report.retrying, report.failed, report.failed_total) == (0, 0, 1)
    assert agent.queue.failed("jourrum")[0].attempts == 1


def test_proxy_and_app_refuse_above_the_advertised_limit_and_not_below(new_site):
    site = new_site(start=False)
    limit_to(site, "jourrum", LIMIT_MB)
    server = site.servers["jourrum"].start()
    status, body = get_json(server.url + "/api/v1/status")
    limits = body["limits"]
    assert status == 200 and limits["max_snapshot_bytes"] == LIMIT_MB * 1024 * 1024
    assert limits["max_body_bytes"] > limits["max_snapshot_bytes"]  # plus the header's room

    url = server.url + "/api/v1/snapshots"
    assert post(url, b"\0" * limits["max_body_bytes"])[1]["error"] == "malformed"  # app
    status, body = post(url, b"\0" * (limits["max_body_bytes"] + 1))
    assert (status, body["error"]) == (413, "too_large")
    assert f"limit of {limits['max_body_bytes']} bytes" in body["message"]


# ---------------------------------------------------------------- no head-of-line blocking


def test_refusal_by_one_appliance_does_not_delay_another(new_site, slow_links):
    # "forrad" (limit 1 MiB, behind a slow link) comes before "jourrum" in every listing.
    site = new_site("jourrum", "forrad", start=False)
    limit_to(site, "forrad", LIMIT_MB)
    for server in site.servers.values():
        server.start()
    route(site, "forrad", slow_links(site.servers["forrad"].port).url)
    agent, _ = ready_to_deliver(site)

    reports = []
    delivering = in_background(lambda: reports.append(agent.tick()))
    assert wait_for(delivered(agent, "jourrum", "lakemedel.pdf", "todo.pdf"), PROMPTLY)
    delivering.join()
    [report] = reports
    assert (report.delivered, report.failed, report.pending) == (3, 1, 0)
    assert [row["documents"][0]["kind"] for row in site.snapshots("forrad")] == ["todo"]
    assert sorted(row["documents"][0]["kind"] for row in site.snapshots("jourrum")) == [
        "medications", "todo"]
    status = json.loads(site.sender.sender_cli("status", "--json", expect=1).output)
    appliance_problems = [p for p in status["problems"] if p.startswith(("forrad", "jourrum"))]
    assert len(appliance_problems) == 1
    assert appliance_problems[0].startswith("forrad: the medications export produced")
    assert status["appliances"]["jourrum"]["last_error"] is None


def test_hung_appliance_does_not_delay_a_reachable_one(new_site, frozen):
    # "frusen" answers nothing (stopped): each push to it waits out the push timeout.
    site = new_site("jourrum", "frusen")
    frozen(site.servers["frusen"])
    clock = FixedClock(local(7, 0))
    export(site, "todo.pdf", local(6, 50))
    export(site, "lakemedel.pdf", local(6, 55), kind="medications")
    agent = site.agent(clock)
    agent.tick()
    clock.advance(timedelta(seconds=STABLE))

    delivering = in_background(agent.tick)
    assert wait_for(delivered(agent, "jourrum", "todo.pdf", "lakemedel.pdf"), PROMPTLY)
    delivering.join()
    frusen = agent.queue.pending("frusen")
    assert [(e.kind, e.attempts) for e in frusen] == [("todo", 1), ("medications", 0)]
    assert frusen[0].last_error["error"] == "unreachable"
    # Not tried again, with any export, before the first one's retry.
    assert agent.state.appliances["frusen"].next_attempt_at == frusen[0].next_attempt_at

    # As `run` passes (not waiting for rounds): while a round for "frusen" hangs, a new
    # export reaches "jourrum" at the next passes.
    clock.advance(timedelta(seconds=30))
    agent.tick_safely(wait=False)  # frusen's retry starts and hangs
    export(site, "todo-2.pdf", local(6, 58))
    agent.tick_safely(wait=False)
    clock.advance(timedelta(seconds=STABLE))
    agent.tick_safely(wait=False)
    assert wait_for(delivered(agent, "jourrum", "todo-2.pdf"), PROMPTLY)
    assert agent.queue.delivered.get("todo-2.pdf", {}).get("frusen") is None

    for process in site.servers["frusen"].processes:  # the appliance recovers
        signal_group(process, signal.SIGCONT)
    agent.stop()  # waits briefly for the round in flight
    clock.advance(timedelta(hours=1))
    report = agent.sync(sleep=lambda s: clock.advance(timedelta(seconds=s)))
    assert (report.pending, report.failed_total) == (0, 0)
    # Everything arrives. (A push that timed out may still have been read by the appliance
    # once it woke up: then it holds that export twice, as docs/sender.md says.)
    produced = {row["documents"][0]["produced_at"] for row in site.snapshots("frusen")}
    assert produced == {isoformat_utc(local(6, m)) for m in (50, 55, 58)}
