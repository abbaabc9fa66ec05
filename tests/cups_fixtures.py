"""pytest fixtures for the real-CUPS harness. Import them into tests/conftest.py with

from tests.cups_fixtures import capture_class, capture_queue, private_cups  # noqa: F401
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator

import pytest

from appliance.devtools.cups_harness.harness import CaptureQueue, PrivateCups, unavailable_reason

_queue_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def private_cups() -> Iterator[PrivateCups]:
    """One private cupsd for the whole test session (skipped if CUPS is not installed)."""
    reason = unavailable_reason()
    if reason:
        pytest.skip(f"real-CUPS tests need the CUPS scheduler: {reason}")
    with PrivateCups() as cupsd:
        yield cupsd


@pytest.fixture
def capture_queue(private_cups: PrivateCups, request: pytest.FixtureRequest) -> CaptureQueue:
    """A fresh capture queue (mode "retry") per test, so captures never mix between tests."""
    base = re.sub(r"[^A-Za-z0-9_]", "_", request.node.name)[:40]
    queue = private_cups.add_capture_queue(f"{base}_{next(_queue_numbers)}")
    request.addfinalizer(queue.clear_fault)
    return queue


@pytest.fixture
def capture_class(private_cups: PrivateCups, request: pytest.FixtureRequest
                  ) -> tuple[str, CaptureQueue, CaptureQueue]:
    """A CUPS class of two fresh capture queues ("Skrivaren i expeditionen" and "Skrivaren i
    rum 2"): (class name, first, second). Removed after the test, jobs and all."""
    number = next(_queue_numbers)
    first = private_cups.add_capture_queue(f"expedition_{number}",
                                           description="Skrivaren i expeditionen")
    second = private_cups.add_capture_queue(f"rum2_{number}", description="Skrivaren i rum 2")
    name = private_cups.add_class(f"kit_{number}", [first.name, second.name])

    def remove() -> None:
        for queue in (first, second):
            queue.clear_fault()
        for queue in (name, first.name, second.name):
            private_cups.run("cancel", "-a", queue, check=False)
            private_cups.run("lpadmin", "-x", queue, check=False)
    request.addfinalizer(remove)
    return name, first, second
