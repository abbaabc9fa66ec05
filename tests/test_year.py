"""A year, shortened (issue 23 §2): 30 simulated days of one appliance on an injected clock,
and the bounds that must hold for the years nobody looks at it.

The simulation is `appliance.devtools.year`, the one `bench/year.py` runs for 365 days with
3 units × 4 kinds and the jobs service every 5 minutes. Here, to stay well under 30 s: 2
units × 2 kinds (todo, medications), still delivered at 07:00 and 14:30 Europe/Stockholm,
8 snapshots a day; the jobs service every 60 minutes; the full kit exported every 7 days and
timed at the end of days 10 and 30. The month starts on 2027-03-15, so it crosses the
change to summer time (2027-03-28). Shipped retention (keep 2 per unit and kind, 72 h).

With retention switched off (`retention.keep_per_unit_kind = 10000`, `max_age_hours =
87600`) `test_store_and_files_stay_flat` fails: 240 snapshots at day 30 against 80 at day
10 (checked by hand; see bench/README.md).
"""

from __future__ import annotations

from datetime import date

import pytest

from appliance.core.records.audit import AuditLog
from appliance.devtools.year import UNITS, Day, Plan, Year, simulate
from tests.conftest import make_installation
from tests.memory_printer import MemoryPrinter

PLAN = Plan(days=30, start=date(2027, 3, 15), units=UNITS[:2], kinds=("todo", "medications"),
            poll_minutes=60, timing_days=(10, 30), timing_repeat=2)
WINDOW_DAYS = 3  # 72 h of deliveries at 07:00 and 14:30: today's, yesterday's, the day before's
# A day's audit entries, at most: per snapshot one `ingested` and (once the window is full)
# one `retention_deleted`; one `exported` for the weekly kit and one for each timed kit of
# the day before; the drill reminder, once. 20 here; a steady day has 16.
ENTRIES_PER_DAY = 2 * PLAN.snapshots_per_day + 1 + PLAN.timing_repeat + 1
# Entries are 255 to 800 bytes here (an export names its documents), 375 on average.
AUDIT_BYTES_PER_DAY = ENTRIES_PER_DAY * 500  # 10,000 bytes; a steady day adds 5,984


@pytest.fixture(scope="module")
def year(tmp_path_factory) -> Year:
    root = tmp_path_factory.mktemp("year")
    inst = make_installation(root / "inst")
    with open(inst.appliance_toml, "a", encoding="utf-8") as handle:
        handle.write(PLAN.units_toml())
    inst.appliance("senders", "units", "kontor-norr", *PLAN.unit_options())
    return simulate(PLAN, inst.config, inst.sender, inst.public_key(), MemoryPrinter(),
                    root / "kits")


def test_every_delivery_is_ingested_on_local_time_across_the_clock_change(year) -> None:
    assert [day.ingested for day in year.days] == [PLAN.snapshots_per_day] * PLAN.days
    ingested = [entry["time"] for entry in AuditLog(year.state_dir / "audit.log",
                                                      None).entries()
                if entry["event"] == "ingested" and entry["time"][:10] in
                ("2027-03-27", "2027-03-29")]
    assert ingested[0] == "2027-03-27T06:00:00Z"  # 07:00 CET
    assert "2027-03-29T05:00:00Z" in ingested  # 07:00 CEST


def test_store_and_files_stay_flat(year) -> None:
    """Once retention's window is full (day 4), the store holds three days of lists, and
    day 30 holds no more than day 10: what comes in goes out. For the three days after the
    clocks go forward, one delivery more is kept overnight: the last ingest of the day
    (14:30 CEST) comes 71 h after the 14:30 CET delivery three days before, which the
    03:00 retention then drops."""
    day10, day30 = year.day(10), year.day(30)
    window = WINDOW_DAYS * PLAN.snapshots_per_day
    per_delivery = len(PLAN.units) * len(PLAN.kinds)
    for day in year.days[WINDOW_DAYS:]:
        late = "2027-03-28" <= day.date <= "2027-03-30"
        assert day.snapshots == window + (per_delivery if late else 0), day
    assert day30.snapshots <= day10.snapshots
    assert day30.store_bytes <= day10.store_bytes * 1.02
    assert day30.state_files <= day10.state_files + 2


def test_index_stays_bounded(year) -> None:
    """The index reuses the pages retention frees: at most two pages more at day 30 than
    at day 10, and the -wal is gone (or small) at the end of every day."""
    day10, day30 = year.day(10), year.day(30)
    assert day30.index_bytes <= day10.index_bytes + 2 * 4096
    assert max(day.index_bytes for day in year.days) <= 256 * 1024
    assert max(day.wal_bytes for day in year.days) <= 64 * 1024


def audit_growth(first: Day, last: Day) -> float:
    return (last.audit_bytes - first.audit_bytes) / (last.day - first.day)


def test_audit_log_grows_linearly_not_faster(year) -> None:
    """At most `ENTRIES_PER_DAY` (20) entries and `AUDIT_BYTES_PER_DAY` (10,000) bytes on
    any day, and days 20 to 30 add no more a day than days 10 to 20 (10 % for the kits'
    days): linear growth, which its segments (`audit.segment_max_mb`) then cut into files
    of a bounded size."""
    for before, day in zip(year.days, year.days[1:], strict=False):
        assert day.audit_entries - before.audit_entries <= ENTRIES_PER_DAY, day
        assert day.audit_bytes - before.audit_bytes <= AUDIT_BYTES_PER_DAY, day
    early = audit_growth(year.day(10), year.day(20))
    late = audit_growth(year.day(20), year.day(30))
    assert late <= early * 1.1
    assert year.day(30).audit_segments == 0  # 64 MiB is years away


def test_status_and_kit_still_work_at_day_30(year) -> None:
    timing = year.day(30).timing
    assert timing is not None and timing.state == "ready"
    assert timing.kit_documents == len(PLAN.units) * len(PLAN.kinds)
    assert timing.kit_missing == 0 and timing.kit_pages > timing.kit_documents
    assert timing.status_median > 0 and timing.kit_median > 0
