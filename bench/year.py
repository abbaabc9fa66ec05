"""Benchmark: one appliance through a simulated year (issue 23 §2): store, index, audit log,
files and disk writes per day, and status and kit times, against the goals.

Run from the repository root:

    .venv/bin/python -m bench.year                               # 365 days
    .venv/bin/python -m bench.year --days 30 --json results.json --dir /var/tmp

What one run does:

1. Makes a throwaway installation with the real CLI (the test suite's
   `tests.conftest.make_installation`), three units in `[units] names`, one sender allowed
   to send for all three (`appliance senders units kontor-norr --unit …`), the shipped
   retention (`retention.keep_per_unit_kind` 2, `retention.max_age_hours` 72) and audit
   segments (`audit.segment_max_mb` 64, or `--segment-mb`).
2. Drives it through `--days` days on an injected clock (`appliance.devtools.year`, the
   same simulation `tests/test_year.py` runs for 30 days; its docstring has the details):
   deliveries at 07:00 and 14:30 Europe/Stockholm of four kinds for three units, 24
   snapshots a day, each ingested in-process as the web service does; the jobs service's
   slot watch, drill reminder, counted refusals and print follow-up every `--poll-minutes`;
   retention daily at 03:00; the full kit exported every 7 days. The year starts on
   2027-01-01 and so crosses both daylight saving changes.
3. At the end of every day, measures the state dir and what the day wrote
   (/proc/self/io over the appliance's calls only); at the end of the sampled days, times
   `Services.status()` and a full kit export, and the first `/metrics` collection after a
   restart: resumed from the tally's checkpoint, and from nothing (the whole log read).
4. Simulates a second appliance for 7 days (retention's window full, as many snapshots as
   the year-old one) and times both alternately, round by round, so that the load of a
   shared machine weighs on both alike: the fair answer to "is it slower after a year?".

Prints a table per sampled day and the figures against the goals: flat store, index and
file count once retention's window is full, the audit log's growth per year and where its
segments bound it, flat call times, and the SD card's life at the day's writes. A
benchmark: it reports numbers and never fails on a time.
"""

from __future__ import annotations

import dataclasses
import statistics
import sys
import time
from datetime import date, datetime
from datetime import time as time_of_day
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:  # `python bench/year.py` puts bench/ on sys.path, not the root
    sys.path.insert(0, _ROOT)

from bench import common  # noqa: E402 - needs the sys.path fix above
from bench.common import MB, log  # noqa: E402

SAMPLE_DAYS = (1, 7, 30, 100, 200, 365)
# The side-by-side reference: the first day-end with retention's window full (72 h), so that
# both appliances hold as many snapshots (a status call reads them: day 1 holds a third).
REFERENCE_DAYS = 7
SENDER = "kontor-norr"  # make_installation's sender
MIB = 2**20


# ---------------------------------------------------------------- running


def run_year(plan, root: Path, segment_mb: int | None):
    """The installation and the simulated year in `root`."""
    from appliance.devtools.year import appliance_at_end, simulate
    from tests.conftest import make_installation
    from tests.memory_printer import MemoryPrinter

    extra = f"[audit]\nsegment_max_mb = {segment_mb}\n" if segment_mb else ""
    inst = make_installation(root / "inst", extra)
    with open(inst.appliance_toml, "a", encoding="utf-8") as handle:
        handle.write(plan.units_toml())  # once the sender is enrolled: it needs --unit then
    inst.appliance("senders", "units", SENDER, *plan.unit_options())

    def progress(day, elapsed: float) -> None:
        if day.day in plan.timing_days or day.day % 30 == 0 or day.day == plan.days:
            log(f"day {day.day} ({day.date}): {day.snapshots} snapshots, store "
                f"{day.store_bytes / MB:.1f} MB, audit {day.audit_bytes / 1000:.0f} kB, "
                f"{elapsed:.0f} s")

    # The printer is passed in (architecture.md); exports never reach it.
    year = simulate(plan, inst.config, inst.sender, inst.public_key(), MemoryPrinter(),
                    root / "kits", progress)
    return year, appliance_at_end(plan, inst.config, MemoryPrinter(), root / "kits")


def side_by_side(first, last, rounds: int, profile: str) -> dict:
    """The calls timed on a week-old and on the year-old appliance, alternating round by
    round, so that the machine's load (shared, changing) weighs on both alike."""
    timings: dict[str, list] = {"first": [], "last": []}
    for _ in range(rounds):
        for name, appliance in (("first", first), ("last", last)):
            timings[name].append(appliance.timing(profile, 1))
    return {name: {"status_ms": 1000 * statistics.median(s for t in runs for s in t.status_s),
                   "kit_s": statistics.median(k for t in runs for k in t.kit_s),
                   "metrics_cold_ms": 1000 * statistics.median(t.metrics_cold_s for t in runs),
                   "metrics_warm_ms": 1000 * statistics.median(t.metrics_warm_s for t in runs),
                   "metrics_resumed_ms": 1000 * statistics.median(t.metrics_resumed_s
                                                                  for t in runs)}
            for name, runs in timings.items()}


# ---------------------------------------------------------------- figures


def steady(year, first: int = 4) -> list:
    """The days once retention's 72 h window is full (day 4 on)."""
    return [day for day in year.days if day.day >= first] or year.days


def figures(year, card_gb: float, pe_cycles: int, amplification: float) -> dict:
    """The goals' figures, from every day of the run."""
    days, later = year.days, steady(year)
    last = days[-1]
    audit_growth = (last.audit_bytes - days[0].audit_bytes) / max(len(days) - 1, 1)
    net = statistics.mean(day.net_written() for day in later)
    gross = statistics.mean(day.written() for day in later)
    endurance = card_gb * 1e9 * pe_cycles / amplification  # bytes the host may write
    timed = [day for day in days if day.timing is not None]
    return {
        "store_bytes_min_max": [min(d.store_bytes for d in later),
                                max(d.store_bytes for d in later)],
        "snapshots_min_max": [min(d.snapshots for d in later), max(d.snapshots for d in later)],
        "index_bytes_max": max(d.index_bytes for d in days),
        "wal_bytes_max": max(d.wal_bytes for d in days),
        "state_files_min_max": [min(d.state_files for d in later),
                                max(d.state_files for d in later)],
        "audit_bytes_per_day": audit_growth,
        "audit_bytes_per_year": audit_growth * 365,
        "audit_entries_per_day": (last.audit_entries - days[0].audit_entries)
                                 / max(len(days) - 1, 1),
        "audit_segments": last.audit_segments,
        "years_to_first_segment": year.segment_max_bytes / max(audit_growth * 365, 1),
        "net_written_per_day": net,
        "write_bytes_per_day": gross,
        "net_written_per_day_by_part": {
            part: statistics.mean(day.net_written(part) for day in later)
            for part in ("ingest", "jobs", "retention", "kit")},
        "changed_bytes_per_day": statistics.mean(day.changed_bytes for day in later),
        "card": {"gb": card_gb, "pe_cycles": pe_cycles, "write_amplification": amplification,
                 "host_bytes": endurance},
        "card_years_net": endurance / max(net, 1) / 365,
        "card_years_gross": endurance / max(gross, 1) / 365,
        "status_ms": {d.day: 1000 * d.timing.status_median for d in timed},
        "kit_s": {d.day: d.timing.kit_median for d in timed},
        "metrics_cold_ms": {d.day: 1000 * d.timing.metrics_cold_s for d in timed},
        "metrics_resumed_ms": {d.day: 1000 * d.timing.metrics_resumed_s for d in timed},
    }


# ---------------------------------------------------------------- reporting


def render(year, numbers: dict, info: dict, date_text: str, loads: tuple[str, str],
           tmp: Path) -> str:
    plan = year.plan
    rows = []
    for day in year.days:
        if day.day not in plan.timing_days and day.day != plan.days:
            continue
        timing = day.timing
        rows.append([
            day.day, day.date, day.snapshots, f"{day.store_bytes / MB:.2f}",
            f"{day.index_bytes / 1000:.0f} ({day.wal_bytes / 1000:.0f})",
            f"{day.audit_bytes / 1000:.0f} ({day.audit_segments})", day.state_files,
            f"{day.net_written() / MB:.2f} ({day.written() / MB:.2f})",
            f"{day.changed_bytes / MB:.2f}", f"{1000 * day.ingest_s:.1f}",
            f"{1000 * day.poll_s:.1f}",
            f"{1000 * timing.status_median:.2f}" if timing else "–",
            f"{timing.kit_median:.3f} ({timing.kit_pages} p)" if timing else "–",
            f"{1000 * timing.metrics_resumed_s:.1f} ({1000 * timing.metrics_cold_s:.1f})"
            if timing else "–",
        ])
    low, high = numbers["store_bytes_min_max"]
    files_low, files_high = numbers["state_files_min_max"]
    card = numbers["card"]
    by_part = ", ".join(f"{part} {value / MB:.2f}"
                        for part, value in numbers["net_written_per_day_by_part"].items())
    status, kits = numbers["status_ms"], numbers["kit_s"]
    first, final = min(status), max(status)
    return "\n".join([
        f"## A year, simulated, {date_text}",
        "",
        f"{common.machine_line(info)}. State dir on the file system of `{tmp}`. Load "
        f"average {loads[0]} at the start, {loads[1]} at the end. {plan.days} days from "
        f"{plan.start} ({len(plan.units)} units × {len(plan.kinds)} kinds × "
        f"{len(plan.deliveries)} deliveries = {plan.snapshots_per_day} snapshots a day; jobs "
        f"every {plan.poll_minutes} min; kit `{plan.profile}` every {plan.kit_every_days} "
        f"days) in {year.wall_s:.0f} s.",
        "",
        "MB = 10^6 bytes, kB = 10^3. Sizes at the end of the day. Index = index.sqlite3 + "
        "-wal (-wal alone in brackets); audit = live log + closed segments + anchor "
        "(segments in brackets); files = every file in the state dir; written = "
        "/proc/self/io `write_bytes` less `cancelled_write_bytes` over the day's appliance "
        "calls (`write_bytes` alone in brackets); changed = sizes of the files the day "
        "created or changed (the audit log by its growth). Ingest and jobs tick: median "
        "of the day's (an ingest includes its retention). Status, kit: median of "
        f"{4 * max(plan.timing_repeat, 5)} status calls and {plan.timing_repeat} kit "
        "exports; metrics = the first `/metrics` collection after a restart, resumed from "
        "the tally's checkpoint (in brackets: with no checkpoint, the whole log read).",
        "",
        *common.table(["day", "date", "snapshots", "store MB", "index kB (wal)",
                       "audit kB (segments)", "files", "written MB/day (gross)",
                       "changed MB/day", "ingest ms", "jobs tick ms", "status ms",
                       "kit s (pages)", "metrics restart ms (no checkpoint)"],
                      rows, left=2),
        "",
        f"- Store, day 4 on: {low / MB:.2f} to {high / MB:.2f} MB, "
        f"{numbers['snapshots_min_max'][0]} to {numbers['snapshots_min_max'][1]} snapshots; "
        f"files in the state dir {files_low} to {files_high}; index at most "
        f"{numbers['index_bytes_max'] / 1000:.0f} kB (-wal at most "
        f"{numbers['wal_bytes_max'] / 1000:.0f} kB at a day's end).",
        f"- Audit log: {numbers['audit_bytes_per_day'] / 1000:.1f} kB "
        f"({numbers['audit_entries_per_day']:.1f} entries) a day, "
        f"{numbers['audit_bytes_per_year'] / MB:.2f} MB a year; {numbers['audit_segments']} "
        f"closed segment(s). The live log closes as a segment at "
        f"{year.segment_max_bytes / MIB:.0f} MiB, after "
        f"{numbers['years_to_first_segment']:.1f} years at this rate; segments are never "
        "deleted, so the total grows by that much a year for as long as the card lasts.",
        f"- Written a day, day 4 on: {numbers['net_written_per_day'] / MB:.2f} MB net "
        f"({by_part}), {numbers['write_bytes_per_day'] / MB:.2f} MB gross; files changed "
        f"{numbers['changed_bytes_per_day'] / MB:.2f} MB.",
        f"- SD card: {card['gb']:g} GB × {card['pe_cycles']:,} P/E cycles ÷ write "
        f"amplification {card['write_amplification']:g} = {card['host_bytes'] / 1e12:.1f} TB "
        f"the host may write: {numbers['card_years_net']:,.0f} years at the net rate, "
        f"{numbers['card_years_gross']:,.0f} at the gross rate (goal: ≥ 10). Not counted: "
        "the file system's journal (written by jbd2, not this process) and other programs.",
        f"- Status {status[first]:.2f} ms on day {first}, {status[final]:.2f} ms on day "
        f"{final}; kit {kits[first]:.3f} s and {kits[final]:.3f} s; metrics after a restart "
        f"(resumed from the tally's checkpoint) {numbers['metrics_resumed_ms'][first]:.1f} ms "
        f"and {numbers['metrics_resumed_ms'][final]:.1f} ms; counting the whole log, as "
        f"without a checkpoint, {numbers['metrics_cold_ms'][first]:.1f} ms and "
        f"{numbers['metrics_cold_ms'][final]:.1f} ms.",
        *side_by_side_lines(numbers.get("side_by_side"), plan),
    ])


def side_by_side_lines(pair: dict | None, plan) -> list[str]:
    if not pair:
        return []
    first, last = pair["first"], pair["last"]
    return [
        f"- Side by side (day {REFERENCE_DAYS} against day {plan.days}: another appliance "
        f"simulated for {REFERENCE_DAYS} days, timed alternately, {plan.timing_repeat} "
        f"rounds, medians): status {first['status_ms']:.2f} against {last['status_ms']:.2f} "
        f"ms; kit {first['kit_s']:.3f} against {last['kit_s']:.3f} s; metrics after a "
        f"restart {first['metrics_resumed_ms']:.1f} against "
        f"{last['metrics_resumed_ms']:.1f} ms (without the checkpoint "
        f"{first['metrics_cold_ms']:.1f} against {last['metrics_cold_ms']:.1f} ms; the next "
        f"scrape {first['metrics_warm_ms']:.1f} against {last['metrics_warm_ms']:.1f} ms).",
    ]


def as_json(year, numbers: dict, info: dict, date_text: str) -> dict:
    return {"date": date_text, "machine": info, "figures": numbers,
            "year": dataclasses.asdict(year)}


def plain(value: object) -> str:
    """Dates and times of day in the JSON: ISO 8601; paths as text."""
    if isinstance(value, (date, datetime, time_of_day)):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    from appliance.devtools.year import Plan

    parser = common.make_parser("python -m bench.year", __doc__)
    parser.add_argument("--days", type=int, default=365, help="simulated days (365)")
    parser.add_argument("--poll-minutes", type=int, default=5,
                        help="minutes between the jobs service's ticks (5; clock.json is "
                        "written at most every 5 minutes, so fewer minutes only read more)")
    parser.add_argument("--repeat", type=int, default=5,
                        help="kit exports timed per sampled day (5; status calls: 4x, at least 20)")
    parser.add_argument("--segment-mb", type=int,
                        help="audit.segment_max_mb (default: the shipped 64)")
    parser.add_argument("--card-gb", type=float, default=32, help="SD card size, GB (32)")
    parser.add_argument("--pe-cycles", type=int, default=3000, help="its P/E cycles (3000)")
    parser.add_argument("--write-amplification", type=float, default=10,
                        help="the card's write amplification (10)")
    parser.add_argument("--json", type=Path, help="also write every day's figures here")
    parser.add_argument("--dir", type=Path, help="make the temp installation under this folder "
                        "(its file system is the one written; default: the system temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the temp installation")
    args = parser.parse_args(argv)
    if args.days < 1 or args.poll_minutes < 1 or args.repeat < 1:
        parser.error("--days, --poll-minutes and --repeat must be at least 1")

    plan = Plan(days=args.days, poll_minutes=args.poll_minutes, timing_repeat=args.repeat,
                timing_days=tuple(day for day in SAMPLE_DAYS if day <= args.days))
    common.unwind_on_termination()
    date_text, load_start = common.today(), common.load_average()
    started = time.perf_counter()
    with common.scratch_dir("bench-year-", args.keep, args.dir) as tmp:
        year, last = run_year(plan, tmp / "year", args.segment_mb)
        if not year.io_available:
            log("no /proc/self/io here: the written columns are 0")
        numbers = figures(year, args.card_gb, args.pe_cycles, args.write_amplification)
        if args.days > REFERENCE_DAYS:
            log(f"a {REFERENCE_DAYS}-day-old appliance, to time side by side with this one")
            _, first = run_year(dataclasses.replace(plan, days=REFERENCE_DAYS, timing_days=()),
                                tmp / "reference", args.segment_mb)
            numbers["side_by_side"] = side_by_side(first, last, args.repeat, plan.profile)
        info = common.describe_machine({})
        print(render(year, numbers, info, date_text, (load_start, common.load_average()), tmp))
        if args.json:
            common.write_json(args.json, as_json(year, numbers, info, date_text), plain)
    log(f"done in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
