"""The project's exceptions: one base class, plus the built-in each one means, so callers
can catch all of ours (`except ApplianceError`) or a kind of failure (`except OSError`)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from appliance.adapters.webhook import WebhookError
from appliance.core.base.alert_queue import AlertNotDelivered
from appliance.core.base.clock import FixedClock
from appliance.core.base.errors import ApplianceError
from appliance.core.crypto.keys import KeyFileError
from appliance.core.crypto.seal import SealError
from appliance.core.intake.ingest import Refusal
from appliance.core.intake.pdf import UnreadablePdf
from appliance.core.intake.registry import RegistryError
from appliance.core.intake.store import SequenceNotNewer, StoreError
from appliance.core.printing.sheets import SheetError
from appliance.core.records.audit import AuditError, AuditLog


@pytest.mark.parametrize(("error", "builtin"), [
    (AuditError, OSError),  # the log could not be written
    (StoreError, OSError),
    (AlertNotDelivered, OSError),
    (WebhookError, OSError),
    (Refusal, ValueError),  # bad input
    (SequenceNotNewer, ValueError),
    (SealError, ValueError),
    (UnreadablePdf, ValueError),
    (KeyFileError, ValueError),
    (RegistryError, ValueError),
    (SheetError, ValueError),
])
def test_every_error_has_the_project_base_and_its_builtin(error, builtin):
    assert issubclass(error, ApplianceError) and issubclass(error, builtin)


def test_an_audit_error_inside_an_append_is_not_wrapped_again(tmp_path):
    """AuditError is an OSError now; the append's OSError handler must pass it through."""
    log = AuditLog(tmp_path / "audit.log", FixedClock(datetime(2026, 11, 27, 6, 0, tzinfo=UTC)))
    log.append("first")
    (tmp_path / "audit.log").write_bytes(b"not json\n")

    with pytest.raises(AuditError) as caught:
        log.append("second")
    assert str(caught.value).startswith("the last line of")
