"""Benchmark: the panel, from a button press to CUPS accepting the kit, and the daemon at rest.

Run from the repository root:

    .venv/bin/python -m bench.panel                            # repeat 10, idle 60 s
    .venv/bin/python -m bench.panel --repeat 5 --idle-seconds 20 --json results.json

What one run does:

1. Starts a private cupsd (`appliance.devtools.cups_harness.PrivateCups`: Unix socket
   only, in a temp dir) with one raw capture queue. This process prints through
   `CupsPrinter(queue, server=cupsd.server)`, passed to `Services(config, printer=...)`
   and one `PrintService`; the daemon subprocess gets `CUPS_SERVER` (`cupsd.env()`). Makes
   a throwaway installation (the real CLI, via `tests.conftest.make_installation`) whose
   `[printing] queue` is that queue and whose `[panel] repeat_guard_seconds = 0`: the print
   service's one-kit guard would otherwise answer `Busy` to a press within 15 s of the
   last kit. Every other panel setting is the default (button on pin 17 with pull-up,
   poll_seconds = 1.0). Ingests one synthetic 20-page to-do list, produced now (`ready`).
2. Per-poll cost, in-process: times `Panel.current_state()` (what the loop does every
   `poll_seconds`: `PrintService.follow_up()` (flock + the guard's job record), then
   `compute_status` over the store + `printer.report()`, a new CUPS connection over the
   local socket) and its parts alone, `--polls` times each; and, after the presses below,
   with a kit in flight: a second `PrintService` on the same state dir (as the kiosk or
   `appliance print` would be) starts a kit whose job CUPS holds (`job-hold-until=
   indefinite`), so each poll's `follow_up` also asks CUPS for that job's state; the job
   is then cancelled. Then, `--growth-calls` times each, the memory a poll and each of its
   parts leave behind: anonymous RSS (`RssAnon`) and open files before and after, garbage
   collected around each (plus, for comparison, the CUPS query the appliance stopped making
   because pycups leaks in it: `getPrinterAttributes`).
3. Press to accepted, in-process: a `Panel(service, MockFactory(), on_state)` with its
   `run` loop in a thread, as `appliance panel` has it. Wrapped on these instances only:
   the service's `request` (the moments it is called and returns), its `compose` (when
   composing starts, i.e. the guard let the request through) and the printer's `submit`
   (when it returns: CUPS has accepted the job; `request` then still writes the guard's
   job record, calls `printer.report()` and writes the audit entry). A press is: time,
   `pin.drive_low()` (pull-up wiring: pressed = low), hold `--hold` s, time,
   `pin.drive_high()`; the panel asks for the kit on release (a release before
   `hold_seconds` is a short press, profile `button`). Reported "from press" (before
   drive_low) and "from release" (before drive_high) to request's return. One first press
   warms up (the first kit composed in this process: fonts, templates; reported on its
   own), then `--repeat` timed ones. After each, untimed: the benchmark waits on
   `panel.press_handled` until the press is handled, then until the job is captured and
   `completed`, then `service.wait(job_id, ...)` so the service audits the job's end and
   clears the guard's record (else the next press would be `Busy`); checks that the kit
   has 1 + 20 + 2 pages (cover, the list, the two blank forms) and deletes the capture. A
   press refused as `Busy("a kit is being composed")` with no job recorded is counted and
   pressed again, untimed: the panel loop, woken by the press, held the guard's lock for
   its poll at that moment (a race in the appliance, reported in bench/README.md). Once
   the panel is closed, the CPU of a bare gpiozero `Button` made as the panel makes it,
   idle for `--button-seconds` (its hold thread wakes every 0.1 s): the part of the
   daemon's idle CPU that is not the poll.
4. The real daemon at rest: starts `appliance --config C panel --simulate` (the shipped
   console script: MockFactory pins, `press`/`hold`/`quit` on stdin, `led: <state>` on
   stdout) with the private cupsd's environment, waits for its first `led:` line, then
   samples `/proc/PID/stat` (utime + stime) and `/proc/PID/status` (VmRSS, VmHWM, Threads)
   at the start and the end of `--idle-seconds`, and RSS every second in between (the
   anonymous RSS's least-squares slope is the growth per minute); cupsd's CPU time too, as
   it answers the daemon's polls. CPU % = CPU time / wall time (of one core).
   Then sends `press`, waits for `led: printing` and `led: ready`, reads the memory again
   (the peak now includes composing a 20-page kit), idles `--after-press-seconds` more
   (the job's end has been audited by then; the polls read the guard's record as before),
   sends `quit` and checks the exit code. PSS and private memory come from
   `/proc/PID/smaps_rollup`.

The load average at the start and the end is reported: the machine may be shared.
MB = 10^6 bytes.
"""

from __future__ import annotations

import contextlib
import io
import os
import queue as queue_module
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:  # `python bench/panel.py` puts bench/ on sys.path, not the root
    sys.path.insert(0, _ROOT)

from bench import common  # noqa: E402 - needs the sys.path fix above
from bench.common import JOB_TIMEOUT, KIND, MB, UNIT, log, summary, timed  # noqa: E402

QUEUE = "panel"
LIST_PAGES = 20
KIT_PAGES = 1 + LIST_PAGES + 2  # cover + the list + the two blank forms
MAX_REFUSED_IN_A_ROW = 5
ACK_WAIT_SECONDS = 0.6  # the panel's busy acknowledgement: 3 flashes of 0.16 s
DAEMON_START_TIMEOUT = 60.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- set-up


def make_panel_installation(root: Path, queue: str):
    """A throwaway installation printing to `queue`, with no repeat guard on the panel."""
    inst = common.make_printing_installation(root, queue, common.NO_REPEAT_GUARD)
    config = inst.config
    assert config.panel.repeat_guard_seconds == 0
    assert config.panel.pull_up, "the benchmark presses by driving the pin low"
    return inst


def ingest_list(inst, pages: int) -> int:
    """A synthetic to-do list of `pages` pages, produced now, ingested in-process (untimed);
    returns its size in bytes."""
    from appliance.devtools.synthetic import make_document

    produced = datetime.now(UTC).replace(microsecond=0)
    content = make_document(KIND, produced_at=produced, pages=pages)
    inst.ingest(inst.envelope(KIND, produced_at=produced, content=content, unit=UNIT))
    return len(content)


def pdf_pages(data: bytes) -> int:
    import pikepdf

    with pikepdf.open(io.BytesIO(data)) as pdf:
        return len(pdf.pages)


# ---------------------------------------------------------------- measuring


def repeated(fn: Callable[[], object], times: int) -> dict:
    """Median, min and max seconds of `times` calls of `fn`."""
    return summary([timed(fn)[0] for _ in range(times)], with_max=True)


class RequestTimer:
    """Wraps, on these instances only, the print service's `request` (the moments it is
    called and returns), its `compose` (when composing starts: the guard has let the
    request through) and the printer's `submit` (when it returns: CUPS has accepted the
    job). `records` holds one dict per request, in order."""

    def __init__(self, service) -> None:
        from appliance.core.printing.print_service import Busy

        self.records: list[dict] = []
        self._moments: dict[str, float] = {}
        request, compose, submit = service.request, service.compose, service.printer.submit

        def timed_compose(*args, **kwargs):
            self._moments["composing"] = time.perf_counter()
            return compose(*args, **kwargs)

        def timed_submit(pdf: bytes, title: str) -> int:
            job_id = submit(pdf, title)
            self._moments["submitted"] = time.perf_counter()
            return job_id

        def timed_request(profile: str, trigger: str):
            self._moments = {"called": time.perf_counter()}
            record: dict = {"profile": profile, "trigger": trigger}
            try:
                outcome = request(profile, trigger)
            except BaseException as exc:
                record["error"] = repr(exc)
                raise
            else:
                record["returned"] = time.perf_counter()
                if isinstance(outcome, Busy):
                    record["busy"] = outcome.reason
                else:
                    record.update(job_id=outcome.job_id, pages=outcome.summary.pages)
                return outcome
            finally:
                self.records.append({**self._moments, **record})

        service.compose, service.printer.submit = timed_compose, timed_submit
        service.request = timed_request


class PanelBench:
    """The in-process panel on MockFactory pins, its loop thread, and the press."""

    def __init__(self, cupsd, capture, inst, log: Callable[[str], None]) -> None:
        from gpiozero.pins.mock import MockFactory

        from appliance.adapters.panel import Panel

        self.cupsd, self.capture, self.log = cupsd, capture, log
        self.service = common.print_service(inst.config,
                                            common.bench_printer(cupsd, capture.name))
        self.services, self.printer = self.service.services, self.service.printer
        self.timer = RequestTimer(self.service)
        self.states: list[tuple[float, str]] = []
        self._state_changed = threading.Condition()
        factory = MockFactory()
        self.panel = Panel(self.service, factory, self._on_state)
        self.pin = factory.pin(self.panel.config.button_pin)
        self.stop = threading.Event()
        self.loop: threading.Thread | None = None
        self.refused = 0  # presses refused as busy with nothing on its way (see press)

    def _on_state(self, state) -> None:
        with self._state_changed:
            self.states.append((time.perf_counter(), str(state)))
            self._state_changed.notify_all()

    def start_loop(self) -> None:
        self.loop = threading.Thread(target=self.panel.run, args=(self.stop,), daemon=True,
                                     name="panel-loop")
        self.loop.start()
        with self._state_changed:
            ok = self._state_changed.wait_for(lambda: self.states, timeout=30)
        if not ok:
            raise RuntimeError("the panel loop never showed a state")
        if self.states[-1][1] != "ready":
            raise RuntimeError(f"the panel shows {self.states[-1][1]}, expected ready")

    def stop_loop(self) -> None:
        self.stop.set()
        if self.loop is not None:
            self.loop.join(timeout=10)

    def press(self, hold: float) -> dict:
        """One short press that starts a kit; returns its moments (perf_counter) and checks.

        A press the print service refuses with `Busy("a kit is being composed")` although
        no kit is on its way is counted in `refused` and pressed again, untimed: the panel's
        own loop, woken by the press, was polling `follow_up` and held the guard's lock at
        that moment (see bench/README.md). Any other refusal stops the benchmark."""
        for _ in range(MAX_REFUSED_IN_A_ROW):
            result = self._press_once(hold)
            if result is not None:
                return result
            self.refused += 1
            self.log(f"press refused while the loop held the guard ({self.refused} so far); "
                     "pressing again")
            time.sleep(ACK_WAIT_SECONDS)  # let the panel's busy flash end
        raise RuntimeError(f"{MAX_REFUSED_IN_A_ROW} presses in a row refused as busy")

    def _press_once(self, hold: float) -> dict | None:
        panel = self.panel
        started, ignored = panel.kits_started, panel.presses_ignored
        records = len(self.timer.records)
        pressed = time.perf_counter()
        self.pin.drive_low()
        time.sleep(hold)
        released = time.perf_counter()
        self.pin.drive_high()  # the release callback (counter, thread start) runs here
        callback_done = time.perf_counter()
        with panel.press_handled:
            handled = panel.press_handled.wait_for(
                lambda: panel.kits_started + panel.presses_ignored > started + ignored,
                JOB_TIMEOUT)
        if not handled:
            raise RuntimeError(f"the press was not handled within {JOB_TIMEOUT} s of the "
                               f"release (kits started {panel.kits_started}, presses "
                               f"ignored {panel.presses_ignored})")
        record = self.timer.records[records]
        if record.get("busy") == "a kit is being composed" and self.nothing_in_flight():
            return None
        if "error" in record or "busy" in record:
            raise RuntimeError(f"the press started no kit: {record}")
        if panel.kits_started != started + 1 or panel.presses_ignored != ignored:
            raise RuntimeError(f"the press was not one new kit: kits started "
                               f"{started} -> {panel.kits_started}, ignored "
                               f"{ignored} -> {panel.presses_ignored}")
        # Untimed: let the job end, and the service see it, so the next press is not Busy.
        data = common.finish_kit(self.service, self.cupsd, self.capture, record["job_id"])
        captured_pages = pdf_pages(data)
        if record["pages"] != KIT_PAGES or captured_pages != KIT_PAGES:
            raise RuntimeError(f"kit of {record['pages']} pages, captured {captured_pages}, "
                               f"expected {KIT_PAGES}")
        return {
            "job_id": record["job_id"], "kit_pages": record["pages"],
            "captured_pages": captured_pages, "kit_bytes": len(data),
            "from_press_s": record["returned"] - pressed,
            "from_release_s": record["returned"] - released,
            "accepted_from_press_s": record["submitted"] - pressed,
            "accepted_from_release_s": record["submitted"] - released,
            "release_callback_s": callback_done - released,
            "release_to_request_s": record["called"] - released,
            "request_s": record["returned"] - record["called"],
            "guard_before_compose_s": record["composing"] - record["called"],
            "after_accepted_s": record["returned"] - record["submitted"],
        }

    def nothing_in_flight(self) -> bool:
        """No job recorded by the guard (this benchmark is its only requester)."""
        return self.service.guard.read().job is None

    def close(self) -> None:
        self.stop_loop()
        self.panel.close()


PRESS_KEYS = ("from_press_s", "from_release_s", "accepted_from_press_s",
              "accepted_from_release_s", "release_callback_s", "release_to_request_s",
              "request_s", "guard_before_compose_s", "after_accepted_s")


def bench_presses(bench: PanelBench, repeat: int, hold: float) -> dict:
    bench.start_loop()
    cold = bench.press(hold)
    bench.log(f"first press: {cold['from_press_s']:.3f} s from press to request's return, "
              f"job {cold['job_id']}, {cold['captured_pages']} pages")
    runs = []
    for run in range(1, repeat + 1):
        runs.append(bench.press(hold))
        bench.log(f"press {run}/{repeat}: {runs[-1]['from_press_s']:.3f} s from press, "
                  f"{runs[-1]['from_release_s']:.3f} s from release")
    return {"cold": cold, "runs": runs, "hold_s": hold,
            **{key: summary([r[key] for r in runs], with_max=True) for key in PRESS_KEYS},
            "kit_pages": runs[-1]["kit_pages"], "captured_pages": runs[-1]["captured_pages"],
            "kit_bytes": runs[-1]["kit_bytes"], "kits_started": bench.panel.kits_started,
            "presses_ignored": bench.panel.presses_ignored,
            "presses_refused_while_polling": bench.refused}


def bench_poll(bench: PanelBench, polls: int) -> list[dict]:
    """What one iteration of the idle loop costs, and its parts (loop thread stopped)."""
    from appliance.core.watch.status import compute_status

    panel, service, services = bench.panel, bench.service, bench.services
    if service.guard.read().job is not None:
        raise RuntimeError("a job is recorded in flight; the idle poll would ask about it")
    return [
        {"step": "Panel.current_state(), no kit in flight (what the idle daemon does)",
         "depth": 0, **repeated(panel.current_state, polls)},
        {"step": "PrintService.follow_up() (flock + read the job record: none)", "depth": 1,
         **repeated(service.follow_up, polls)},
        {"step": "compute_status without a printer report (store: SQLite open + query, "
         "freshness)", "depth": 1,
         **repeated(lambda: compute_status(services.config, services.store,
                                           services.clock.now(), None), polls)},
        {"step": "printer.report() (new CUPS connection: queue attributes + not-completed "
         "jobs)", "depth": 1, **repeated(bench.printer.report, polls)},
    ]


def bench_poll_in_flight(bench: PanelBench, polls: int) -> list[dict]:
    """The poll while a kit is in flight: a second `PrintService` on the same state dir (as
    the kiosk or `appliance print` would be) starts a kit whose job CUPS holds
    (`job-hold-until=indefinite`), so every poll's `follow_up` asks CUPS for that job's
    state. The job is then cancelled and its end seen. Loop thread stopped."""
    from appliance.adapters.cups import CupsPrinter

    held = CupsPrinter(bench.printer.queue, server=bench.cupsd.server,
                       options={"job-hold-until": "indefinite"})
    other = common.print_service(bench.services.config, held)
    job_id = started_job(other.request("button", trigger="bench-held"))
    try:
        if not bench.service.follow_up():
            raise RuntimeError(f"held job {job_id} is not in flight for the panel's service")
        rows = [
            {"step": f"Panel.current_state(), a kit in flight (job {job_id}, held in CUPS)",
             "depth": 0, **repeated(bench.panel.current_state, polls)},
            {"step": "PrintService.follow_up() (flock + read the job record + job_state)",
             "depth": 1, **repeated(bench.service.follow_up, polls)},
            {"step": f"printer.job_state({job_id}) (new CUPS connection, one job's "
             "attributes)", "depth": 2,
             **repeated(lambda: bench.printer.job_state(job_id), polls)},
        ]
    finally:
        bench.cupsd.connect().cancelJob(job_id)
        state = bench.service.wait(job_id, timeout=JOB_TIMEOUT, poll=0.05)
    if not state.final:
        raise RuntimeError(f"held job {job_id} is {state} after cancelling it")
    return rows


def started_job(outcome) -> int:
    """The job id of a request that must have started a kit."""
    from appliance.core.printing.print_service import Busy

    if isinstance(outcome, Busy):
        raise RuntimeError(f"the print service answered Busy: {outcome.reason}")
    return outcome.job_id


def _anon_kb() -> int:
    return proc_status(os.getpid())["RssAnon"]


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def bench_growth(bench: PanelBench, calls: int) -> list[dict]:
    """Memory left behind per call: anonymous RSS and open files before and after `calls`
    calls of each part of a poll (loop thread stopped; garbage collected around each)."""
    import gc

    import cups

    from appliance.core.watch.status import compute_status

    services, printer = bench.services, bench.printer
    queue = printer.queue

    def connection() -> cups.Connection:  # as CupsPrinter makes one: to its cupsd
        return cups.Connection(host=printer.server)

    steps = [
        ("Panel.current_state()", 0, bench.panel.current_state),
        ("PrintService.follow_up() (no job recorded)", 1, bench.service.follow_up),
        ("compute_status without a printer report", 1,
         lambda: compute_status(services.config, services.store, services.clock.now(), None)),
        ("printer.report()", 1, printer.report),
        ("cups.Connection().getPrinters() (as report() calls it)", 2,
         lambda: connection().getPrinters()),
        ("cups.Connection().getJobs(not-completed, job-printer-uri) (as report() calls it)",
         2, lambda: connection().getJobs(which_jobs="not-completed",
                                         requested_attributes=["job-printer-uri"])),
        ("not in the appliance since the fix: getPrinterAttributes(queue) (pycups#44 leak)", 0,
         lambda: connection().getPrinterAttributes(queue)),
    ]
    rows = []
    for name, depth, fn in steps:
        for _ in range(min(100, calls)):  # warm up: caches, allocator arenas
            fn()
        gc.collect()
        anon, fds, start = _anon_kb(), _open_fds(), time.perf_counter()
        for _ in range(calls):
            fn()
        seconds = time.perf_counter() - start
        gc.collect()
        grown, fds_grown = _anon_kb() - anon, _open_fds() - fds
        rows.append({"step": name, "depth": depth, "calls": calls, "anon_kb": grown,
                     "kb_per_call": grown / calls, "fds": fds_grown, "seconds": seconds})
        bench.log(f"memory per call, {name}: {grown / calls:.2f} kB ({grown} kB over {calls}),"
                  f" open files {fds_grown:+d}")
    return rows


def bench_button_idle(config, seconds: float) -> dict:
    """CPU of a bare gpiozero Button as the panel makes it (MockFactory, hold time set, a
    `when_held` handler), doing nothing for `seconds`: its hold thread wakes every 0.1 s.
    Run with no other thread of this process busy (the panel is closed by then)."""
    from gpiozero import Button
    from gpiozero.pins.mock import MockFactory

    panel = config.panel
    button = Button(panel.button_pin, pull_up=panel.pull_up,
                    bounce_time=panel.bounce_seconds or None, hold_time=panel.hold_seconds,
                    pin_factory=MockFactory())
    button.when_held = lambda: None
    try:
        threads = [t.name for t in threading.enumerate()]
        cpu0, wall0 = time.process_time(), time.perf_counter()
        time.sleep(seconds)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    finally:
        button.close()
    return {"wall_s": wall, "cpu_s": cpu, "cpu_percent": 100 * cpu / wall,
            "cpu_ms_per_s": 1000 * cpu / wall, "threads": threads}


# ---------------------------------------------------------------- the daemon process


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of a process (its threads included), in seconds."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2:].split()  # after "pid (comm) "; fields from state on
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime: fields 14, 15


def proc_status(pid: int) -> dict:
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM", "VmSize", "RssAnon", "RssFile", "RssShmem"):
            values[key] = int(value.split()[0])  # kB
        elif key == "Threads":
            values[key] = int(value)
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("Pss", "Private_Clean", "Private_Dirty"):
                values[key] = int(value.split()[0])
    if "Private_Clean" in values and "Private_Dirty" in values:
        values["Private"] = values["Private_Clean"] + values["Private_Dirty"]
    return values


class Daemon:
    """`appliance --config C panel --simulate` as a subprocess; its stdout lines in a queue."""

    def __init__(self, config: Path, env: dict[str, str], stderr_path: Path) -> None:
        command = [str(Path(sys.executable).parent / "appliance"), "--config", str(config),
                   "panel", "--simulate"]
        self.command = command
        self.lines: queue_module.Queue[tuple[float, str]] = queue_module.Queue()
        self.seen: list[tuple[float, str]] = []
        self._stderr = open(stderr_path, "wb")  # noqa: SIM115 - closed in close()
        self.stderr_path = stderr_path
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._stderr, env=env, text=True, bufsize=1)
        self.pid = self.proc.pid
        self._reader = threading.Thread(target=self._read, daemon=True, name="daemon-stdout")
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put((time.perf_counter(), line.rstrip("\n")))

    def wait_line(self, prefix: str, timeout: float) -> tuple[float, str]:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or (self.proc.poll() is not None and self.lines.empty()):
                raise RuntimeError(f"no {prefix!r} line from the daemon within {timeout} s "
                                   f"(exit {self.proc.poll()}); stdout so far {self.seen}; "
                                   f"stderr:\n{self.stderr_tail()}")
            with contextlib.suppress(queue_module.Empty):
                moment, line = self.lines.get(timeout=min(left, 0.5))
                self.seen.append((moment, line))
                if line.startswith(prefix):
                    return moment, line

    def drain(self) -> list[str]:
        """stdout lines that arrived since the last wait (state changes while idle)."""
        lines = []
        while True:
            try:
                moment, line = self.lines.get_nowait()
            except queue_module.Empty:
                return lines
            self.seen.append((moment, line))
            lines.append(line)

    def send(self, command: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def quit(self, timeout: float = 20.0) -> int:
        with contextlib.suppress(OSError, ValueError):
            self.send("quit")
            self.proc.stdin.close()
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=timeout)
            raise RuntimeError(f"the daemon did not stop within {timeout} s of `quit`; "
                               "killed") from None

    def stderr_tail(self, lines: int = 20) -> str:
        self._stderr.flush()
        text = self.stderr_path.read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._stderr.close()


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of y over x (0 for fewer than two distinct x)."""
    if len(points) < 2:
        return 0.0
    mean_x = statistics.fmean(x for x, _ in points)
    mean_y = statistics.fmean(y for _, y in points)
    den = sum((x - mean_x) ** 2 for x, _ in points)
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / den if den else 0.0


def idle_window(daemon: Daemon, cupsd_pid: int, seconds: float, poll_seconds: float,
                log: Callable[[str], None], label: str) -> dict:
    """CPU and memory of the daemon (and cupsd's CPU) over `seconds` of doing nothing."""
    pid = daemon.pid
    before = proc_status(pid)
    wall0, cpu0, cups0 = time.perf_counter(), proc_cpu_seconds(pid), proc_cpu_seconds(cupsd_pid)
    samples = [(0.0, before["VmRSS"], before["RssAnon"])]  # (s since start, kB, kB)
    end = wall0 + seconds
    while (left := end - time.perf_counter()) > 0:
        time.sleep(min(1.0, left))
        if daemon.proc.poll() is not None:
            raise RuntimeError(f"the daemon exited ({daemon.proc.returncode}) while idle:\n"
                               f"{daemon.stderr_tail()}")
        status = proc_status(pid)
        samples.append((time.perf_counter() - wall0, status["VmRSS"], status["RssAnon"]))
    rss = [kb for _, kb, _ in samples]
    cpu1, cups1, wall1 = proc_cpu_seconds(pid), proc_cpu_seconds(cupsd_pid), time.perf_counter()
    after = proc_status(pid)
    wall, cpu, cups_cpu = wall1 - wall0, cpu1 - cpu0, cups1 - cups0
    polls = wall / poll_seconds
    result = {
        "label": label, "wall_s": wall, "cpu_s": cpu, "cpu_percent": 100 * cpu / wall,
        "cpu_s_per_minute": 60 * cpu / wall, "polls": polls,
        "cpu_ms_per_poll": 1000 * cpu / polls,
        "cupsd_cpu_s": cups_cpu, "cupsd_cpu_percent": 100 * cups_cpu / wall,
        "cupsd_cpu_ms_per_poll": 1000 * cups_cpu / polls,
        "before": before, "after": after, "rss_min_kb": min(rss), "rss_max_kb": max(rss),
        # least-squares slope of the anonymous RSS over the window (1 s samples)
        "anon_growth_kb_per_min": 60 * slope([(t, anon) for t, _, anon in samples]),
        "rss_samples": samples, "state_changes": daemon.drain(),
    }
    result["anon_growth_kb_per_poll"] = result["anon_growth_kb_per_min"] * poll_seconds / 60
    log(f"{label}: {result['cpu_percent']:.2f} % CPU ({cpu:.2f} s in {wall:.1f} s), "
        f"cupsd {result['cupsd_cpu_percent']:.2f} %, RSS {_mb(after['VmRSS'])} MB, anonymous "
        f"RSS growing {result['anon_growth_kb_per_min']:.0f} kB/min")
    return result


def bench_daemon(cupsd, capture, config: Path, folder: Path, idle_seconds: float,
                 after_press_seconds: float, log: Callable[[str], None]) -> dict:
    from appliance.core.config.settings import load_appliance_config

    poll_seconds = load_appliance_config(config).panel.poll_seconds
    daemon = Daemon(config, cupsd.env(), folder / "panel-daemon.stderr")
    cupsd_pid = cupsd.proc.pid
    try:
        moment, line = daemon.wait_line("led:", DAEMON_START_TIMEOUT)
        startup = moment - daemon.started
        if line != "led: ready":
            raise RuntimeError(f"the daemon's first state is {line!r}, expected 'led: ready'")
        log(f"daemon pid {daemon.pid} started in {startup:.2f} s ({line}); idling "
            f"{idle_seconds:.0f} s")
        result: dict = {"command": " ".join(daemon.command), "startup_s": startup,
                        "first_line": line, "poll_seconds": poll_seconds,
                        "at_start": proc_status(daemon.pid)}
        result["idle"] = idle_window(daemon, cupsd_pid, idle_seconds, poll_seconds, log,
                                     "idle")

        if after_press_seconds > 0:
            jobs_before = {job.job_id for job in capture.captured()}
            sent = time.perf_counter()
            daemon.send("press")
            printing, _ = daemon.wait_line("led: printing", JOB_TIMEOUT)
            ready, _ = daemon.wait_line("led: ready", JOB_TIMEOUT)
            job = cupsd.wait_for(lambda: [j for j in capture.captured()
                                          if j.job_id not in jobs_before],
                                 timeout=JOB_TIMEOUT, what="the daemon's kit")[0]
            pages = pdf_pages(common.settle(cupsd, capture, job.job_id))
            result["press"] = {
                "job_id": job.job_id, "captured_pages": pages,
                "printing_after_s": printing - sent, "ready_after_s": ready - sent,
                "status": proc_status(daemon.pid)}
            log(f"daemon press: job {job.job_id}, {pages} pages, led ready again after "
                f"{ready - sent:.2f} s")
            time.sleep(2 * poll_seconds)  # let the loop settle into its post-print polls
            daemon.drain()
            result["after_press"] = idle_window(daemon, cupsd_pid, after_press_seconds,
                                                poll_seconds, log, "idle after a press")
        result["exit_code"] = daemon.quit()
        result["stdout"] = [line for _, line in daemon.seen]
        if result["exit_code"] != 0:
            raise RuntimeError(f"the daemon exited {result['exit_code']} after quit:\n"
                               f"{daemon.stderr_tail()}")
        return result
    finally:
        daemon.close()


# ---------------------------------------------------------------- reporting


def machine_info(cupsd) -> dict:
    from importlib import metadata

    return common.describe_machine({
        "gpiozero": metadata.version("gpiozero"), "pycups": metadata.version("pycups"),
        "pikepdf": metadata.version("pikepdf"), "cups": common.cups_version(cupsd, QUEUE),
        "clock_ticks": CLOCK_TICKS, "loadavg_at_end": common.load_average(),
    }, with_memory=True)


def _ms(entry: dict) -> str:
    return f"{1000 * entry['median']:.1f} / {1000 * entry['min']:.1f} / {1000 * entry['max']:.1f}"


def _mb(kb: int | None) -> str:
    return "–" if kb is None else f"{kb * 1024 / MB:.1f}"


def render(info: dict, presses: dict | None, polls: list[dict], growth: list[dict],
           button: dict | None, daemon: dict | None, repeat: int, date: str) -> str:
    from appliance.cli.panel_daemon import SIMULATED_PRESS_SECONDS

    out = [
        f"## Panel benchmark, {date}",
        "",
        f"{common.machine_line(info)}, gpiozero {info['gpiozero']} (MockFactory), pycups "
        f"{info['pycups']}, pikepdf {info['pikepdf']}, CUPS {info['cups']}. Private cupsd on "
        f"a Unix socket, raw capture queue. Load average at the start: "
        f"{info['loadavg_at_start']}, at the end: {info['loadavg_at_end']}.",
    ]
    if presses:
        cold = presses["cold"]
        out += [
            "",
            f"### Press to accepted: {presses['kit_pages']}-page kit (1 cover + {LIST_PAGES} "
            f"to-do pages + 2 forms), in-process",
            "",
            f"Short press = drive the pin low, hold {1000 * presses['hold_s']:.0f} ms, drive "
            f"it high; the kit starts on release. Median / min / max of {repeat} in ms, "
            f"after one untimed first press (the first kit composed in the process: fonts, "
            f"templates). Captured kits: {presses['captured_pages']} pages, "
            f"{presses['kit_bytes']:,} bytes; kits started {presses['kits_started']}, "
            f"presses ignored {presses['presses_ignored']}, of which refused as busy with "
            f"nothing on its way (the panel loop's poll held the guard) and pressed again: "
            f"{presses['presses_refused_while_polling']}.",
            "",
        ]
        labels = [
            ("from_press_s", "**press → request returned**"),
            ("from_release_s", "**release → request returned**"),
            ("accepted_from_press_s", "press → CUPS accepted (submit returned)"),
            ("accepted_from_release_s", "release → CUPS accepted (submit returned)"),
            ("release_callback_s", "↳ release callback (gpiozero event, busy check, thread "
             "start)"),
            ("release_to_request_s", "↳ release → request called"),
            ("request_s", "↳ request, call → return"),
            ("guard_before_compose_s", "↳ ↳ before composing: guard (flock, job record read, "
             "busy check)"),
            ("after_accepted_s", "↳ ↳ after CUPS accepted: guard record write, "
             "printer.report(), audit entry"),
        ]
        out += common.table(["interval", "ms (median / min / max)", "first press ms"],
                            [[label, _ms(presses[key]), f"{1000 * cold[key]:.1f}"]
                             for key, label in labels])
    if polls:
        out += [
            "",
            f"### One poll of the idle loop, in-process (median / min / max of "
            f"{len(polls[0]['samples'])}, ms; loop thread stopped)",
            "",
            *common.table(["step", "ms"], [[common.step_label(row["step"], row["depth"]),
                                            _ms(row)] for row in polls]),
        ]
    if growth:
        out += [
            "",
            f"### Memory left behind per call, in-process ({growth[0]['calls']} calls each, "
            "garbage collected before and after)",
            "",
            *common.table(["step", "anonymous RSS growth kB / call",
                           "MB / day at one call a second", "open files after"], [
                [common.step_label(row["step"], row["depth"]), f"{row['kb_per_call']:.2f}",
                 f"{row['kb_per_call'] * 86400 * 1024 / MB:.0f}", f"{row['fds']:+d}"]
                for row in growth]),
        ]
    if button:
        out += ["", f"Bare gpiozero Button (MockFactory, hold_time set, when_held handler), "
                f"in-process, idle {button['wall_s']:.0f} s: {button['cpu_percent']:.3f} % "
                f"CPU, {button['cpu_ms_per_s']:.2f} ms a second (its hold thread wakes every "
                f"0.1 s); threads {', '.join(button['threads'])}."]
    if daemon:
        windows = [daemon["idle"]] + ([daemon["after_press"]] if "after_press" in daemon
                                      else [])
        out += [
            "",
            "### The daemon process at rest: `appliance --config C panel --simulate`",
            "",
            f"Started to its first `{daemon['first_line']}` in {daemon['startup_s']:.2f} s; "
            f"poll_seconds = {daemon['poll_seconds']:g}. CPU = utime + stime from "
            f"/proc/PID/stat ({info['clock_ticks']} ticks a second) over the window; % of one "
            "core. Memory from /proc/PID/status and smaps_rollup at the end of the window "
            "(peak = VmHWM over the process's life).",
            "",
        ]

        def window_row(w: dict) -> list[str]:
            end = w["after"]
            return [
                w["label"], f"{w['wall_s']:.1f}", f"{w['cpu_percent']:.2f}",
                f"{w['cpu_s_per_minute']:.2f}", f"{w['cpu_ms_per_poll']:.1f}",
                f"{w['cupsd_cpu_percent']:.2f}",
                f"{_mb(end['VmRSS'])} ({_mb(w['rss_min_kb'])}–{_mb(w['rss_max_kb'])})",
                _mb(end["VmHWM"]), _mb(end.get("Pss")), _mb(end.get("Private")),
                end["Threads"],
                f"{w['anon_growth_kb_per_min']:.0f} ({w['anon_growth_kb_per_poll']:.1f})"]

        out += common.table(
            ["window", "wall s", "CPU %", "CPU s / min", "CPU ms / poll", "cupsd CPU %",
             "RSS MB (min–max)", "peak RSS MB", "PSS MB", "private MB", "threads",
             "anon RSS growth kB / min (/ poll)"], [window_row(w) for w in windows])
        if "press" in daemon:
            p = daemon["press"]
            out += ["", f"Press in the daemon (`press` on stdin, held "
                    f"{SIMULATED_PRESS_SECONDS:g} s): `led: printing` after "
                    f"{p['printing_after_s']:.2f} s, `led: ready` again after "
                    f"{p['ready_after_s']:.2f} s (job completed, next poll); "
                    f"{p['captured_pages']} pages captured; RSS then "
                    f"{_mb(p['status']['VmRSS'])} MB, peak {_mb(p['status']['VmHWM'])} MB."]
        changes = [c for w in windows for c in w["state_changes"]]
        out += ["", f"State changes while idle: {', '.join(changes) or 'none'}. "
                f"Exit code after `quit`: {daemon['exit_code']}."]
    return "\n".join(out)


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = common.make_parser("python -m bench.panel", __doc__)
    parser.add_argument("--repeat", type=int, default=10, help="timed presses (10)")
    parser.add_argument("--hold", type=float, default=0.05,
                        help="seconds the button is held down per press (0.05)")
    parser.add_argument("--polls", type=int, default=50,
                        help="in-process samples of one poll iteration (50)")
    parser.add_argument("--growth-calls", type=int, default=2000,
                        help="calls per step of the in-process memory-per-poll check "
                        "(2000; 0: skip)")
    parser.add_argument("--button-seconds", type=float, default=10.0,
                        help="idle CPU of a bare gpiozero Button, in-process (10; 0: skip)")
    parser.add_argument("--idle-seconds", type=float, default=60.0,
                        help="length of the daemon's idle measurement (60)")
    parser.add_argument("--after-press-seconds", type=float, default=60.0,
                        help="idle measurement after one press in the daemon (60; 0: no "
                        "press)")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("--no-presses", action="store_true",
                        help="skip the in-process press latency (and the post-press poll)")
    parser.add_argument("--no-daemon", action="store_true",
                        help="skip the daemon process measurement")
    parser.add_argument("--keep", action="store_true",
                        help="keep the temp installation and the private cupsd's dir")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.polls < 1 or args.growth_calls < 0:
        parser.error("--repeat and --polls must be at least 1, --growth-calls at least 0")
    if args.idle_seconds <= 0 or args.after_press_seconds < 0 or args.button_seconds < 0:
        parser.error("--idle-seconds must be > 0, --after-press-seconds and "
                     "--button-seconds >= 0")
    if not 0 < args.hold < 1.0:
        parser.error("--hold must be between 0 and 1 s (a long press prints `full`)")

    common.unwind_on_termination()  # SIGTERM/SIGHUP: unwind, so `finally` stops cupsd
    date = common.today()
    with (common.scratch_dir("bench-panel-", args.keep) as tmp,
          common.private_cups(QUEUE, args.keep) as (cupsd, capture)):
        inst = make_panel_installation(tmp / "inst", capture.name)
        list_bytes = ingest_list(inst, LIST_PAGES)
        log(f"installation in {tmp}, cupsd {cupsd.server} (pid {cupsd.proc.pid}); "
            f"{LIST_PAGES}-page to-do list of {list_bytes:,} bytes ingested")

        load_at_start = common.load_average()
        bench = PanelBench(cupsd, capture, inst, log)
        presses, polls, growth = None, [], []
        try:
            bench.panel.current_state()  # warm up: SQLite, libcups
            polls = bench_poll(bench, args.polls)
            if args.growth_calls:
                growth = bench_growth(bench, args.growth_calls)
            if not args.no_presses:
                presses = bench_presses(bench, args.repeat, args.hold)
                bench.stop_loop()
                polls += bench_poll_in_flight(bench, args.polls)
        finally:
            bench.close()

        button = None
        if args.button_seconds:
            button = bench_button_idle(inst.config, args.button_seconds)
            log(f"bare gpiozero Button idle: {button['cpu_percent']:.3f} % CPU "
                f"({button['cpu_ms_per_s']:.2f} ms per second)")
        daemon = None
        if not args.no_daemon:
            daemon = bench_daemon(cupsd, capture, inst.appliance_toml, tmp,
                                  args.idle_seconds, args.after_press_seconds, log)
        info = {**machine_info(cupsd), "loadavg_at_start": load_at_start}
        text = render(info, presses, polls, growth, button, daemon, args.repeat, date)
        print(text)
        if args.json:
            common.write_json(args.json, {
                "date": date, "machine": info, "repeat": args.repeat, "mb": MB,
                "list_pages": LIST_PAGES, "list_bytes": list_bytes, "presses": presses,
                "polls": polls, "growth": growth, "button_idle": button,
                "daemon": daemon,
            }, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
