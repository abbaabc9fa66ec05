"""Real-CUPS test harness: a private cupsd and a capture backend that can fake faults.

Named cups_harness, not cups: pytest puts tests/ on sys.path, so a tests/cups package would
shadow pycups (`import cups`) for every test and for the appliance code under test.
"""

from .harness import (
    CapturedJob,
    CaptureQueue,
    CupsHarnessError,
    PrivateCups,
    unavailable_reason,
)

__all__ = ["CaptureQueue", "CapturedJob", "CupsHarnessError", "PrivateCups", "unavailable_reason"]
