"""The printer port in memory, for tests that need a printer but none of CUPS' behaviour:
a kit composed and handed over, its bytes kept, its job complete at once.

Every CUPS behaviour (states, reasons, a stalled job, classes, the capture backend's bytes)
stays tested against the session's real private cupsd (`installation` fixture); a test
takes `memory_installation` only when what it checks would be the same with any printer.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field

from appliance.core.printing.printer import Condition, JobState, PrinterReport
from appliance.core.printing.supplies import SupplyReading


@dataclass
class MemoryPrinter:
    """`Printer` in memory. `jobs` holds (title, pdf) per job id, in order; `readings` is
    what `supplies()` answers (by default: it answered, no markers). Thread-safe."""

    queue: str = "memory"
    readings: tuple[SupplyReading, ...] | None = None
    jobs: dict[int, tuple[str, bytes]] = field(default_factory=dict)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1), repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def report(self) -> PrinterReport:
        return PrinterReport(self.queue, Condition.READY, (), "idle", True, 0)

    def submit(self, pdf: bytes, title: str) -> int:
        with self._lock:
            job_id = next(self._ids)
            self.jobs[job_id] = (title, bytes(pdf))
            return job_id

    def job_state(self, job_id: int) -> JobState:
        return JobState.COMPLETED if job_id in self.jobs else JobState.UNKNOWN

    def supplies(self) -> tuple[SupplyReading, ...]:
        if self.readings is not None:
            return self.readings
        return (SupplyReading(self.queue, self.queue, True, "idle",
                              detail="the memory printer answered"),)

    @property
    def pdfs(self) -> list[bytes]:
        return [pdf for _, pdf in self.jobs.values()]
