"""pytest fixtures for the real-CUPS harness. Import them into tests/conftest.py with

from tests.cups_fixtures import capture_queue, private_cups  # noqa: F401
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
