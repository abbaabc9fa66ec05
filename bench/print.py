"""Benchmark: `PrintService.request` of kits with 10, 50 and 200 document pages, next to `lp`.

Run from the repository root:

    .venv/bin/python -m bench.print                        # pages 10,50,200, repeat 5
    .venv/bin/python -m bench.print --pages 10,50 --repeat 3 --json results.json

What one run does:

1. Starts a private cupsd (`appliance.devtools.cups_harness.PrivateCups`: Unix socket
   only, in a temp dir) with one raw capture queue. This process prints through
   `CupsPrinter(queue, server=cupsd.server)`, passed to `Services(config, printer=...)`
   and one `PrintService`; subprocesses get `CUPS_SERVER` (`cupsd.env()`). Makes a
   throwaway installation (the real CLI, via `tests.conftest.make_installation`) whose
   `[printing] queue` is that queue and whose `[panel] repeat_guard_seconds = 0`: the
   print service's one-kit guard would otherwise answer `Busy` to a request within 15 s of
   the last. Warms up with one untimed 2-page print of each kind.
2. For each page count N: builds a synthetic to-do list of N pages, writes it to a temp
   file and ingests it (in-process `ingest()`), all untimed; the store's newest to-do list
   is then that one. Then, `--repeat` times, alternating:
   (a) `service.request("button", trigger="bench")`, timed from the call to its return
       (CUPS has accepted the job; the kit is cover + N stamped pages + the blank forms),
       with the time inside split by wrapping, on these instances only, the service's
       `gather` (select + decrypt) and `compose` (gather + layout, stamping, save), the
       printer's `submit` (pycups createJob ... finishDocument) and the guard's `read` and
       `write` of its job record (`print-job.json`; the write is an atomic_write: fsync,
       rename, directory fsync). The rest is the guard's flock and busy check,
       `printer.report()` and the audit entry. The timed section thus includes the one-kit
       guard's cost, which the old `print_kit` did not have; no `job_state` call, because
       the previous job's end was already seen (below);
   (b) `lp -d QUEUE FILE` of the same *unstamped* PDF as a subprocess, timed until `lp`
       exits (it exits once cupsd has accepted the job): a process start included;
   (b') `CupsPrinter.submit` of the same unstamped bytes: submission alone.
   After each job the benchmark waits until it is captured and `completed` (the queue is
   idle again), checks the captured bytes and deletes the capture; after a kit it also
   calls `service.wait(job_id, ...)`, untimed, so the service audits the job's end and
   clears the guard's record before the next request.
3. Peak memory: for each N, a fresh `python -m bench.print --child CONFIG` process imports
   the appliance, opens its services (with `printer_for`, as `appliance print` does:
   `CUPS_SERVER` names the private cupsd) and then prints the same kit twice (cold, then
   warm) and once more under `tracemalloc`, waiting for each job's end between them.
   Reported: the process's peak RSS (VmHWM, including the interpreter and imports), the
   peak RSS growth during each `request` (VmHWM reset through /proc/self/clear_refs before
   each print, minus VmRSS then), and the Python-heap peak from tracemalloc (C++
   allocations inside qpdf/pikepdf are invisible to it). Not ru_maxrss: after
   subprocess's vfork + exec it holds the parent's peak (see run_child).
4. For the largest N, times the parts of composing in-process, each alone (the breakdown).

Ratio = request median / lp median: how many times longer the appliance's whole print
takes than `lp` of the same list without cover, stamps and forms. MB = 10^6 bytes.
(Up to 2026-11-27 the benchmark timed `print_service.print_kit`, which `request` replaced:
the same work plus the one-kit guard.)
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import json
import re
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:  # `python bench/print.py` puts bench/ on sys.path, not the root
    sys.path.insert(0, _ROOT)

from bench import common  # noqa: E402 - needs the sys.path fix above
from bench.common import KIND, MB, UNIT, alone, log, summary, timed  # noqa: E402

PROFILE = "button"
QUEUE = "bench"


# ---------------------------------------------------------------- memory (--child)


def _status_kb(field: str) -> int | None:
    """A `kB` field of /proc/self/status (VmRSS, VmHWM), or None where there is none."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return None


def _reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0: write 5 to /proc/self/clear_refs)."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        return False
    return True


def _maxrss_kb() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB on Linux


def run_child(config_path: str) -> None:
    """Print the newest kit three times in this fresh process and report memory as JSON.

    Peaks come from VmHWM, not ru_maxrss: a child started by Python's subprocess (vfork +
    exec) inherits in ru_maxrss the peak RSS of its parent at the time of the exec (checked
    here: a 300 MB parent gave a 9 MB child an ru_maxrss of 304 MB), so ru_maxrss would
    report the benchmark's own parent process. ru_maxrss is kept in the JSON for reference.
    """
    import tracemalloc

    from appliance.adapters.cups import printer_for
    from appliance.core.config.settings import load_appliance_config

    config = load_appliance_config(Path(config_path))  # as `appliance print` builds it
    service = common.print_service(
        config, printer_for(config.printing.queue, config.printing.options))
    services = service.services
    services.private_key, services.store, services.audit  # noqa: B018

    def request():
        return started(service.request(PROFILE, trigger="bench"))

    def wait_for_end(job_id: int) -> None:  # untimed: the next request would be Busy
        if not service.wait(job_id, timeout=common.JOB_TIMEOUT, poll=0.05).final:
            raise RuntimeError(f"job {job_id} did not end within {common.JOB_TIMEOUT} s")
    report: dict = {"startup_rss_kb": _status_kb("VmRSS"), "startup_hwm_kb": _status_kb("VmHWM"),
                    "startup_ru_maxrss_kb": _maxrss_kb(), "prints": []}
    peaks = [report["startup_hwm_kb"] or 0]

    for label in ("cold", "warm"):
        reset = _reset_peak()
        before_rss, before_max = _status_kb("VmRSS"), _maxrss_kb()
        start = time.perf_counter()
        outcome = request()
        seconds = time.perf_counter() - start
        hwm, after_max = _status_kb("VmHWM"), _maxrss_kb()
        if reset and hwm is not None and before_rss is not None:
            growth, method = hwm - before_rss, "VmHWM after - VmRSS before (HWM reset)"
        else:  # no clear_refs: the growth of the lifetime peak, a lower bound
            growth, method = after_max - before_max, "ru_maxrss after - before"
        peaks.append(hwm or after_max)
        report["prints"].append({
            "print": label, "seconds": seconds, "job_id": outcome.job_id,
            "kit_pages": outcome.summary.pages, "rss_before_kb": before_rss,
            "peak_kb": hwm, "growth_kb": growth, "method": method})
        wait_for_end(outcome.job_id)

    _reset_peak()
    tracemalloc.start()
    outcome = request()
    _, heap_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    wait_for_end(outcome.job_id)
    report["tracemalloc"] = {"job_id": outcome.job_id, "python_heap_peak_bytes": heap_peak,
                             "peak_kb": _status_kb("VmHWM")}
    # The process's peak RSS over its life (interpreter, imports and the two prints; the
    # tracemalloc print is left out, tracemalloc's own bookkeeping inflates it).
    report["peak_rss_kb"] = max(peaks)
    report["ru_maxrss_kb"] = _maxrss_kb()  # inflated by the parent's peak: see above
    print(json.dumps(report))


# ---------------------------------------------------------------- set-up


def make_bench_installation(root: Path, queue: str):
    """A throwaway installation printing to `queue`, retention high enough to keep all, and
    no repeat guard (a request within 15 s of the last would be `Busy`)."""
    inst = common.make_printing_installation(
        root, queue, common.KEEP_ALL_RETENTION + "\n" + common.NO_REPEAT_GUARD)
    config = inst.config
    assert config.keep_per_unit_kind == 10000
    assert config.panel.repeat_guard_seconds == 0
    return inst


def started(outcome):
    """The `Started` of a request; a `Busy` one means the benchmark let a job overlap."""
    from appliance.core.printing.print_service import Busy

    if isinstance(outcome, Busy):
        raise RuntimeError(f"the print service answered Busy: {outcome.reason}")
    return outcome


_produced: list[datetime] = []


def ingest_list(inst, pages: int, folder: Path) -> tuple[bytes, Path]:
    """A synthetic to-do list of `pages` pages: written to a file and ingested (untimed).

    Each list is at least one second newer than the one before: the store keeps
    `produced_at` (and `received_at`) to the second and breaks ties by snapshot id, so two
    lists made within one second could otherwise print the older one (seen here: the 2-page
    warm-up list instead of the 10-page one). Kept within seconds of now, so the list is
    never stale whatever the time of day (to-do slots 07:00 and 14:30).
    """
    from appliance.devtools.synthetic import make_document

    now = datetime.now(UTC).replace(microsecond=0)
    produced = max(now, _produced[-1] + timedelta(seconds=1)) if _produced else now
    _produced.append(produced)
    content = make_document(KIND, produced_at=produced, pages=pages)
    path = folder / f"todo-{pages}.pdf"
    path.write_bytes(content)
    inst.ingest(inst.envelope(KIND, produced_at=produced, content=content, unit=UNIT))
    return content, path


class Instrumented:
    """Times the parts of one `request` by wrapping what it calls, on these instances only.

    The service's `compose` calls `self.gather`, so it includes it; the guard's `read` and
    `write` are its job record's I/O (the flock around them is not wrapped: microseconds).
    """

    def __init__(self, service) -> None:
        self.parts: dict[str, float] = {}
        self.submitted: bytes = b""
        self._undo: list[Callable[[], None]] = []
        for name in ("gather", "compose"):
            self._wrap(service, name, name)
        self._wrap(service.printer, "submit", "submit", keep_pdf=True)
        self._wrap(service.guard, "read", "guard")
        self._wrap(service.guard, "write", "guard")

    def _wrap(self, owner, attribute: str, key: str, keep_pdf: bool = False) -> None:
        original = getattr(owner, attribute)
        own = attribute in vars(owner)  # already an instance attribute, or a class's method

        @functools.wraps(original)
        def timed_call(*args, **kwargs):
            if keep_pdf:
                self.submitted = args[0]
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.parts[key] = self.parts.get(key, 0.0) + time.perf_counter() - start

        setattr(owner, attribute, timed_call)
        self._undo.append(lambda: setattr(owner, attribute, original) if own
                          else delattr(owner, attribute))

    def reset(self) -> None:
        self.parts, self.submitted = {}, b""

    def restore(self) -> None:
        while self._undo:
            self._undo.pop()()


# ---------------------------------------------------------------- measuring


class Bench:
    """The private cupsd, its capture queue, the installation and the three ways to print."""

    def __init__(self, cupsd, queue, inst, log: Callable[[str], None]) -> None:
        from appliance.devtools.cups_harness.harness import find_tool

        self.cupsd, self.queue, self.inst, self.log = cupsd, queue, inst, log
        self.service = common.print_service(inst.config,
                                            common.bench_printer(cupsd, queue.name))
        self.services = self.service.services
        self.plain_printer = common.bench_printer(cupsd, queue.name)  # not instrumented
        self.instrumented = Instrumented(self.service)
        self.lp_tool = find_tool("lp") or "lp"
        self.env = cupsd.env()

    def settle(self, job_id: int, expected: bytes | None = None) -> None:
        """Wait until the job is captured and completed; check its bytes; delete the capture."""
        common.settle(self.cupsd, self.queue, job_id, expected)

    def request(self) -> tuple[float, dict, object, int]:
        self.instrumented.reset()
        seconds, outcome = timed(lambda: self.service.request(PROFILE, trigger="bench"))
        outcome = started(outcome)
        parts = dict(self.instrumented.parts)
        kit = self.instrumented.submitted
        common.finish_kit(self.service, self.cupsd, self.queue, outcome.job_id, kit)
        return seconds, parts, outcome, len(kit)

    def lp(self, path: Path, content: bytes) -> float:
        start = time.perf_counter()
        result = subprocess.run([self.lp_tool, "-d", self.queue.name, str(path)], env=self.env,
                                capture_output=True, text=True, timeout=common.JOB_TIMEOUT)
        seconds = time.perf_counter() - start
        match = re.search(r"request id is \S+-(\d+)", result.stdout)
        if result.returncode != 0 or not match:
            raise RuntimeError(f"lp exited {result.returncode}: {result.stdout!r} "
                               f"{result.stderr!r}")
        self.settle(int(match.group(1)), content)
        return seconds

    def submit(self, content: bytes) -> float:
        seconds, job_id = timed(lambda: self.plain_printer.submit(content, "Bench unstamped"))
        self.settle(job_id, content)
        return seconds


def bench_pages(bench: Bench, pages: int, repeat: int, folder: Path) -> dict:
    build_s, (content, path) = timed(lambda: ingest_list(bench.inst, pages, folder))
    bench.log(f"{pages} pages: to-do list of {len(content):,} bytes, built and ingested in "
              f"{build_s:.1f} s")
    total, gather, compose, submit, guard, lp_s, plain_s = [], [], [], [], [], [], []
    kit_pages = kit_bytes = 0
    for run in range(1, repeat + 1):
        seconds, parts, outcome, kit_bytes = bench.request()
        kit_pages = outcome.summary.pages
        printed = [doc["pages"] for doc in outcome.summary.documents]
        if printed != [pages] or outcome.summary.stale:
            raise RuntimeError(f"the kit holds lists of {printed} pages (stale: "
                               f"{outcome.summary.stale}), not the fresh {pages}-page list")
        total.append(seconds)
        gather.append(parts["gather"])
        compose.append(parts["compose"])  # the service's compose calls its gather
        submit.append(parts["submit"])
        guard.append(parts["guard"])
        lp_s.append(bench.lp(path, content))
        plain_s.append(bench.submit(content))
        bench.log(f"  run {run}: request {seconds:.3f} s (compose {compose[-1]:.3f}, submit "
                  f"{submit[-1]:.3f}, guard record {guard[-1]:.4f}), lp {lp_s[-1]:.3f} s, "
                  f"pycups submit {plain_s[-1]:.3f} s")
    rest = [t - c - s for t, c, s in zip(total, compose, submit, strict=True)]
    result = {
        "pages": pages, "kit_pages": kit_pages, "list_bytes": len(content),
        "kit_bytes": kit_bytes, "compose_s": summary(compose), "gather_s": summary(gather),
        "layout_s": summary([c - g for c, g in zip(compose, gather, strict=True)]),
        "submit_s": summary(submit), "guard_s": summary(guard), "rest_s": summary(rest),
        "report_audit_s": summary([r - g for r, g in zip(rest, guard, strict=True)]),
        "request_s": summary(total), "lp_s": summary(lp_s),
        "pycups_submit_s": summary(plain_s),
    }
    result["ratio_lp"] = result["request_s"]["median"] / result["lp_s"]["median"]
    result["ratio_submit"] = result["request_s"]["median"] / result["pycups_submit_s"]["median"]
    result["ratio_lp_min"] = result["request_s"]["min"] / result["lp_s"]["min"]
    return result


def measure_memory(bench: Bench, pages: int) -> dict:
    """One fresh process printing the newest kit (see run_child); its jobs are settled."""
    result = subprocess.run(
        [sys.executable, "-m", "bench.print", "--child", str(bench.inst.appliance_toml)],
        cwd=common.REPO, env=bench.env, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise RuntimeError(f"memory child for {pages} pages exited {result.returncode}:\n"
                           f"{result.stderr[-4000:]}")
    report = json.loads(result.stdout.strip().splitlines()[-1])
    for job_id in [p["job_id"] for p in report["prints"]] + [report["tracemalloc"]["job_id"]]:
        bench.settle(job_id)
    cold, warm = report["prints"]
    kb = 1024 / MB
    bench.log(f"  memory: peak RSS {report['peak_rss_kb'] * kb:.1f} MB, growth cold "
              f"{cold['growth_kb'] * kb:.1f} MB, warm {warm['growth_kb'] * kb:.1f} MB, "
              f"Python heap peak {report['tracemalloc']['python_heap_peak_bytes'] / MB:.1f} MB")
    return report


def breakdown(bench: Bench, content: bytes, pages: int, repeat: int) -> list[dict]:
    """Time the parts of composing and handing over the largest kit, each alone.

    `depth` 1 rows are parts of the depth 0 row above them, depth 2 of the depth 1 row.
    """
    import pikepdf

    from appliance.core.crypto import seal
    from appliance.core.printing.kit import KitContext, compose
    from appliance.core.printing.print_service import profile_named
    from appliance.core.printing.stamping import Stamp, append_stamped

    services, service, guard = bench.services, bench.service, bench.service.guard
    bench.instrumented.restore()  # time the originals; the wrappers come back at the end
    try:
        config = services.config
        profile = profile_named(config, PROFILE)
        now = services.clock.now()
        documents, missing = service.gather(profile, now)
        record = guard.read()  # no job in flight: the last one's end was seen
        doc = documents[0]
        snapshot_id = services.store.latest_per_unit_and_kind()[0].snapshot_id
        context = KitContext(appliance=config.name, printed_at=now, timezone=config.timezone,
                             forms=config.printing.forms)
        kit = compose(profile, documents, missing, context).pdf

        def stamp(index: int, count: int) -> Stamp:
            return Stamp(f"RESERVUTSKRIFT · Att göra-lista · {UNIT} · Data 2026-11-27 06:00",
                         f"Utskrivet 2026-11-27 09:14 · Sida {index + 2} av {count + 3}")

        def stamped() -> pikepdf.Pdf:
            target = pikepdf.new()
            append_stamped(target, doc.content, stamp)
            return target

        stamped_pdf = stamped()

        def save(pdf: pikepdf.Pdf) -> bytes:
            out = io.BytesIO()
            pdf.save(out)
            return out.getvalue()

        def submit_kit() -> float:
            seconds, job_id = timed(lambda: bench.plain_printer.submit(kit, "Bench kit"))
            bench.settle(job_id, kit)
            return seconds

        def hold_and_read() -> None:
            with guard.composing() as held:
                assert held, "the guard is held by someone else"
                with guard.record_lock():
                    guard.read()

        steps: list[tuple[str, int, Callable[[], float]]] = [  # (name, depth, timer)
            ("PrintService.compose (select + decrypt + compose)", 0,
             alone(lambda: service.compose(profile, now))),
            ("gather: select the newest list, read and decrypt its snapshot", 1,
             alone(lambda: service.gather(profile, now))),
            ("read envelope + seal.parse + seal.decrypt", 2,
             alone(lambda: seal.decrypt(seal.parse(services.store.read_envelope(snapshot_id),
                                                   max_payload=2**63),
                                        services.private_key))),
            ("kit.compose: layout, stamping, save", 1,
             alone(lambda: compose(profile, documents, missing, context))),
            ("cover + forms only (kit.compose with no documents; each laid out twice)", 2,
             alone(lambda: compose(profile, [], missing, context))),
            (f"stamping.append_stamped of the {pages} pages (reportlab stamps + pikepdf)", 2,
             alone(stamped)),
            (f"pikepdf save of the {pages} stamped pages (Flate-compresses the streams)", 2,
             alone(lambda: save(stamped_pdf))),
            (f"CupsPrinter.submit of the kit ({len(kit):,} bytes)", 0, submit_kit),
            (f"CupsPrinter.submit of the unstamped list ({len(content):,} bytes)", 0,
             lambda: bench.submit(content)),
            ("CupsPrinter.report() (request calls it after the submit)", 0,
             alone(services.printer.report)),
            ("audit entry (append, fsync, anchor)", 0,
             alone(lambda: services.audit.append("bench_timing", pages=pages))),
            ("one-kit guard: flock + read the job record (no job recorded)", 0,
             alone(hold_and_read)),
            ("one-kit guard: write the job record (atomic_write: fsync, rename, dir fsync)",
             0, alone(lambda: guard.write(record))),
        ]
        rows = []
        for name, depth, fn in steps:
            samples = [fn() for _ in range(repeat)]
            rows.append({"step": name, "depth": depth, **summary(samples)})
        return rows
    finally:
        bench.instrumented = Instrumented(service)


# ---------------------------------------------------------------- reporting


def machine_info(cupsd) -> dict:
    from importlib import metadata

    import pikepdf
    import reportlab
    from cryptography.hazmat.backends.openssl.backend import backend

    return common.describe_machine({
        "pikepdf": pikepdf.__version__, "qpdf": pikepdf.__libqpdf_version__,
        "reportlab": reportlab.Version, "pycups": metadata.version("pycups"),
        "cups": common.cups_version(cupsd, QUEUE), "openssl": backend.openssl_version_text(),
    })


def _s(entry: dict) -> str:
    return common.median_min(entry, 3)


def render(info: dict, results: list[dict], memory: dict[int, dict], rows: list[dict],
           repeat: int, date: str) -> str:
    out = [
        f"## Print benchmark, {date}",
        "",
        f"{common.machine_line(info)}, pikepdf {info['pikepdf']} (qpdf {info['qpdf']}), "
        f"reportlab {info['reportlab']}, pycups {info['pycups']}, CUPS {info['cups']}, "
        f"{info['openssl']}. Private cupsd on a Unix socket, raw capture queue.",
        "",
        f"Load average at the start: {info['loadavg_at_start']}, at the end: "
        f"{info['loadavg_at_end']}.",
        "",
        f"Repeat {repeat}; times are median / min in seconds. compose = select + decrypt + "
        "compose (`PrintService.compose`), submit = `CupsPrinter.submit` inside `request`; "
        "the rest of request is the one-kit guard (flock, job record read and write), "
        "`printer.report()` and the audit entry. Ratio = request median ÷ lp median (÷ pycups "
        "submit median in brackets). Memory: a fresh process per row; peak RSS = that "
        "process's peak (VmHWM) over its life, interpreter and imports included; growth = "
        "peak RSS during its first (cold) / second (warm) request minus RSS just before it.",
        "",
    ]
    table = []
    for r in results:
        mem = memory.get(r["pages"])
        if mem:
            cold, warm = mem["prints"]
            peak = f"{mem['peak_rss_kb'] * 1024 / MB:.1f}"
            growth = f"{cold['growth_kb'] * 1024 / MB:.1f} / {warm['growth_kb'] * 1024 / MB:.1f}"
        else:
            peak = growth = "–"
        table.append([
            f"{r['kit_pages']} ({r['pages']} + cover + forms)", _s(r["compose_s"]),
            _s(r["submit_s"]), _s(r["request_s"]), _s(r["lp_s"]), _s(r["pycups_submit_s"]),
            f"{r['ratio_lp']:.1f}x ({r['ratio_submit']:.1f}x)", peak, growth])
    out += common.table(["pages in kit", "compose s", "submit s", "request total s", "lp s",
                         "pycups submit s", "ratio vs lp", "peak RSS MB", "RSS growth MB"],
                        table)
    out += ["", "Sizes and the split of compose (medians):", ""]
    for r in results:
        mem = memory.get(r["pages"])
        heap = (f"; Python heap peak {mem['tracemalloc']['python_heap_peak_bytes'] / MB:.1f} MB"
                f", cold print in a fresh process {mem['prints'][0]['seconds']:.3f} s"
                if mem else "")
        out.append(
            f"- {r['pages']} pages: list {r['list_bytes']:,} bytes, kit {r['kit_bytes']:,} bytes"
            f"; select + decrypt {r['gather_s']['median']:.3f} s, layout + stamping + save "
            f"{r['layout_s']['median']:.3f} s, guard + report + audit "
            f"{r['rest_s']['median']:.3f} s (guard record read + write "
            f"{r['guard_s']['median']:.4f} s)"
            f"{heap}; ratio from the minimums {r['ratio_lp_min']:.1f}x.")
    if rows:
        big = results[-1]
        total = big["request_s"]["median"]
        out += [
            "",
            f"Breakdown for the {big['pages']}-page list, each step timed alone in one "
            f"process, median / min of {repeat}; share = median ÷ request median "
            f"({total:.3f} s); ↳ = part of the row above with one ↳ fewer:",
            "",
            *common.table(["step", "s", "share of request"], [
                [common.step_label(row["step"], row["depth"]), common.median_min(row, 4),
                 f"{100 * row['median'] / total:.0f}%"] for row in rows]),
        ]
    return "\n".join(out)


# ---------------------------------------------------------------- main


def parse_pages(text: str) -> list[int]:
    return common.int_list(text, "pages", 1, 2000)


def main(argv: list[str] | None = None) -> int:
    parser = common.make_parser("python -m bench.print", __doc__)
    parser.add_argument("--pages", type=parse_pages, default=[10, 50, 200],
                        help="document pages per kit, comma-separated (10,50,200)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per page count (5)")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("--no-memory", action="store_true",
                        help="skip the fresh-process memory measurement")
    parser.add_argument("--no-breakdown", action="store_true",
                        help="skip the in-process breakdown of the largest kit")
    parser.add_argument("--keep", action="store_true",
                        help="keep the temp installation and the private cupsd's dir")
    parser.add_argument("--child", metavar="CONFIG", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        run_child(args.child)
        return 0
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")

    common.unwind_on_termination()  # SIGTERM/SIGHUP: unwind, so `finally` stops cupsd
    date = common.today()
    with (common.scratch_dir("bench-print-", args.keep) as tmp,
          common.private_cups(QUEUE, args.keep) as (cupsd, queue)):
        inst = make_bench_installation(tmp / "inst", queue.name)
        bench = Bench(cupsd, queue, inst, log)
        log(f"installation in {tmp}, cupsd {cupsd.server} (pid {cupsd.proc.pid})")

        # Warm up (imports, fonts, templates, key, SQLite, libcups) untimed.
        content, path = ingest_list(inst, 2, tmp)
        load_at_start = common.load_average()
        bench.request()
        bench.lp(path, content)
        bench.submit(content)

        results, memory = [], {}
        for pages in sorted(args.pages):
            results.append(bench_pages(bench, pages, args.repeat, tmp))
            if not args.no_memory:
                memory[pages] = measure_memory(bench, pages)
        rows = []
        if not args.no_breakdown:
            largest = max(args.pages)
            rows = breakdown(bench, (tmp / f"todo-{largest}.pdf").read_bytes(), largest,
                             args.repeat)
        info = {**machine_info(cupsd), "loadavg_at_start": load_at_start,
                "loadavg_at_end": common.load_average()}
        text = render(info, results, memory, rows, args.repeat, date)
        print(text)
        if args.json:
            common.write_json(args.json, {
                "date": date, "machine": info, "repeat": args.repeat, "mb": MB,
                "results": results, "memory": {str(k): v for k, v in memory.items()},
                "breakdown": rows,
                "breakdown_pages": max(args.pages) if rows else None,
            })
    return 0


if __name__ == "__main__":
    sys.exit(main())
