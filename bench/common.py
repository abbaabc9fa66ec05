"""What the benchmark scripts (`bench/ingest.py`, `bench/print.py`, `bench/panel.py`, …) share.

Timing and statistics, the machine description, argument and output helpers, the
throwaway installation and the private cupsd with its capture queue. Each script imports
this as `bench.common` after putting the repository root on `sys.path` (which `python
bench/SCRIPT.py` does not do by itself).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

MB = 10**6
KIND = "todo"
UNIT = "Hemsjukvård Sölvesborg"
JOB_TIMEOUT = 120.0  # seconds to wait for a CUPS job to be accepted, captured and completed
KEEP_ALL_RETENTION = "[retention]\nkeep_per_unit_kind = 10000\nmax_age_hours = 87600\n"
# The print service answers `Busy` within `repeat_guard_seconds` (default 15) of the last
# kit started; a benchmark printing kit after kit turns that off and lets each job end.
NO_REPEAT_GUARD = "[panel]\nrepeat_guard_seconds = 0\n"


# ---------------------------------------------------------------- running


def log(message: str) -> None:
    """Progress to stderr (the results table goes to stdout)."""
    print(message, file=sys.stderr, flush=True)


def unwind_on_termination() -> None:
    """Make SIGTERM and SIGHUP raise SystemExit, so `finally` blocks stop servers and cupsd."""

    def terminated(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminated)
    signal.signal(signal.SIGHUP, terminated)


def today() -> str:
    """The local date, YYYY-MM-DD, for the report's heading."""
    return datetime.now().astimezone().strftime("%Y-%m-%d")


@contextlib.contextmanager
def scratch_dir(prefix: str, keep: bool, parent: Path | None = None) -> Iterator[Path]:
    """A new temp dir (under `parent`, default the system's), removed on exit unless `keep`."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    try:
        yield tmp
    finally:
        if keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------- arguments and output


def make_parser(prog: str, doc: str) -> argparse.ArgumentParser:
    """An argument parser described by the first paragraph of the script's docstring."""
    return argparse.ArgumentParser(prog=prog, description=doc.split("\n\n")[0],
                                   formatter_class=argparse.RawDescriptionHelpFormatter)


def int_list(text: str, what: str, low: int, high: int, unit: str = "",
             note: str = "") -> list[int]:
    """Comma-separated integers, each in low..high, for an argparse `type=` function."""
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        unit_note = f" ({unit})" if unit else ""
        raise argparse.ArgumentTypeError(
            f"{what} must be integers{unit_note}, got {text!r}") from exc
    if not values or any(not low <= v <= high for v in values):
        bounds = f"{low}..{high}" + (f" {unit}" if unit else "") + (f" ({note})" if note else "")
        raise argparse.ArgumentTypeError(f"{what} must be {bounds}")
    return values


def write_json(path: Path, data: dict, default: Callable[[object], object] | None = None) -> None:
    """Write the results as indented JSON (with a final newline) and say so on stderr."""
    path.write_text(json.dumps(data, indent=2, default=default) + "\n", encoding="utf-8")
    log(f"results written to {path}")


def table(columns: list[str], rows: Iterable[Sequence[object]], left: int = 1) -> list[str]:
    """A Markdown table's lines: the header, the alignment row (the first `left` columns
    left-aligned, the others right-aligned) and one line per row of cells."""
    align = "|" + "---|" * left + "---:|" * (len(columns) - left)
    return [table_row(columns), align, *(table_row(cells) for cells in rows)]


def table_row(cells: Sequence[object]) -> str:
    """One line of a Markdown table."""
    return "| " + " | ".join(str(cell) for cell in cells) + " |"


def median_min(entry: dict, places: int) -> str:
    """`median / min` of a `summary()` entry, in seconds with `places` decimals."""
    return f"{entry['median']:.{places}f} / {entry['min']:.{places}f}"


def step_label(step: str, depth: int) -> str:
    """A breakdown table's step cell: bold at depth 0, else one `↳ ` per level."""
    return f"{'↳ ' * depth}{step}" if depth else f"**{step}**"


# ---------------------------------------------------------------- measuring


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    """Seconds `fn()` took (perf_counter) and what it returned."""
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def alone(fn: Callable[[], object]) -> Callable[[], float]:
    """A step for a breakdown: calling it times one `fn()` and returns the seconds."""
    return lambda: timed(fn)[0]


def summary(samples: list[float], with_max: bool = False) -> dict:
    """Median and minimum (and maximum, if asked) of the samples, and the samples."""
    result = {"median": statistics.median(samples), "min": min(samples)}
    if with_max:
        result["max"] = max(samples)
    result["samples"] = samples
    return result


# ---------------------------------------------------------------- the machine


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, else what `platform` knows."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Model") and value.strip():
                return value.strip()
    return cpu


def memory_bytes() -> int | None:
    """MemTotal from /proc/meminfo in bytes, or None."""
    memory = None
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = int(line.split()[1]) * 1024
    return memory


def describe_machine(versions: dict, with_memory: bool = False) -> dict:
    """CPU, cores, (memory,) kernel and Python, followed by the script's `versions`."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    info: dict = {"cpu": cpu_model(), "machine": platform.machine(), "cores": os.cpu_count(),
                  "usable_cores": usable}
    if with_memory:
        info["memory_bytes"] = memory_bytes()
    info.update(kernel=platform.release(), python=platform.python_version())
    return {**info, **versions}


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, `0.52 0.31 0.20`: the machine is shared."""
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def machine_line(info: dict) -> str:
    """The start of a report's `Machine:` sentence, up to and including the Python version."""
    memory = f", {info['memory_bytes'] / 10**9:.1f} GB RAM" if info.get("memory_bytes") else ""
    return (f"Machine: {info['cpu']} ({info['machine']}), {info['cores']} cores "
            f"({info['usable_cores']} usable){memory}, Linux {info['kernel']}; Python "
            f"{info['python']}")


# ---------------------------------------------------------------- installation and CUPS


def make_printing_installation(root: Path, queue: str, extra_config: str = ""):
    """A throwaway installation (the test suite's helper, the real CLI) printing to `queue`."""
    from tests.conftest import make_installation

    inst = make_installation(root, f'[printing]\nqueue = "{queue}"\n\n{extra_config}')
    assert inst.config.printing.queue == queue, inst.config.printing.queue
    return inst


@contextlib.contextmanager
def private_cups(queue: str, keep: bool) -> Iterator[tuple[object, object]]:
    """A private cupsd with one raw capture queue named `queue`; yields (cupsd, capture).

    Nothing process-wide is pointed at it: in this process, pass `bench_printer(cupsd,
    queue)`; subprocesses get `cupsd.env()` (`CUPS_SERVER`), as an appliance's daemons do.
    """
    from appliance.devtools.cups_harness.harness import PrivateCups

    with PrivateCups(keep=keep, log_level="warn") as cupsd:
        capture = cupsd.add_capture_queue(queue)
        yield cupsd, capture
        if keep:
            log(f"kept cupsd dir {cupsd.root}")


def bench_printer(cupsd, queue: str):
    """The appliance's CUPS adapter aimed at `queue` on the private cupsd, explicitly."""
    from appliance.adapters.cups import CupsPrinter

    return CupsPrinter(queue, server=cupsd.server)


def print_service(config, printer):
    """The one `PrintService` of a benchmark process, built as a daemon builds it."""
    from appliance.core.printing.print_service import PrintService
    from appliance.core.services import Services

    return PrintService(Services(config, printer=printer))


def cups_version(cupsd, queue: str) -> str:
    """The private cupsd's version, as its queue reports it, or `?`."""
    version = "?"
    with contextlib.suppress(Exception):
        version = str(cupsd.printer_attributes(queue).get("cups-version", "?"))
    return version


def settle(cupsd, capture, job_id: int, expected: bytes | None = None) -> bytes:
    """Wait until the job is captured and completed; check its bytes against `expected` if
    given; delete the capture; return the bytes."""
    import cups

    def done():
        job = capture.captured_job(job_id)
        return job if job and cupsd.job_state(job_id) == cups.IPP_JOB_COMPLETED else None

    job = cupsd.wait_for(done, timeout=JOB_TIMEOUT, what=f"job {job_id} completed")
    data = job.data
    if expected is not None and data != expected:
        raise RuntimeError(f"job {job_id}: captured {len(data)} bytes, "
                           f"submitted {len(expected)}")
    job.path.unlink(missing_ok=True)
    job.path.with_suffix(".json").unlink(missing_ok=True)
    return data


def finish_kit(service, cupsd, capture, job_id: int, expected: bytes | None = None) -> bytes:
    """`settle` a kit's job, then let the print service see its end (`PrintService.wait`:
    audits it and clears the one-kit guard's record), so the next request is not `Busy`.
    Never inside a timed section."""
    data = settle(cupsd, capture, job_id, expected)
    state = service.wait(job_id, timeout=JOB_TIMEOUT, poll=0.05)
    if not state.final:
        raise RuntimeError(f"job {job_id} is {state} for the print service, not final")
    return data
