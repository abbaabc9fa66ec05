"""What a listener on the LAN learns from the appliance's answers (issue 26 §3), against the
real server: a refusal found inside a verified envelope names the rule and its code, never
what the envelope encrypts (a unit, a kind, a time, a count); the detail is in the audit log
for the operator. An accepted envelope is answered with its id only."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from appliance.core.intake.ingest import public_refusal
from tests.test_units import NORR, now, push, two_units, units_server  # noqa: F401 - fixtures

SECRET_UNIT = "Hemlig Patientenhet"
SECRET_KIND = "hivmottagning"


CASES = {
    # name: (what to send, expected status and code, what must not be in the answer)
    "unknown_kind": (lambda a, b: a.envelope(SECRET_KIND, unit=NORR),
                     (422, "unknown_kind"), [SECRET_KIND]),
    "unknown_unit": (lambda a, b: a.envelope(unit=SECRET_UNIT),
                     (422, "unknown_unit"), [SECRET_UNIT]),
    "unit_not_allowed": (lambda a, b: b.envelope(unit=NORR),
                         (403, "unit_not_allowed"), [NORR]),
    "from_the_future": (lambda a, b: a.envelope(unit=NORR, produced_at=now()
                                                + timedelta(hours=3)),
                        (422, "from_the_future"), [f"{now() + timedelta(hours=3):%Y-%m-%d}",
                                                   NORR]),
    "unreadable_pdf": (lambda a, b: a.envelope(unit=NORR, content=b"%PDF-1.7 broken"),
                       (422, "unreadable_pdf"), ["todo", "document 1"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_refusal_inside_the_envelope_names_the_rule_not_the_content(
        two_units, units_server, case):  # noqa: F811 - the fixtures imported above
    a, b = two_units
    make, expected, secrets = CASES[case]
    before = a.store_state()

    status, reply = push(units_server, make(a, b))

    assert (status, reply["error"]) == expected, reply
    answer = json.dumps(reply, ensure_ascii=False)
    assert reply["message"] == public_refusal(expected[1])
    for secret in secrets:
        assert secret not in answer, (secret, answer)
    detail = a.refusal_detail()  # the operator still learns exactly what was wrong
    assert any(secret in detail for secret in secrets), detail
    assert a.store_state() == before
    assert push(units_server, a.envelope(unit=NORR))[0] == 201  # and the next one goes in


def test_an_accepted_envelope_is_answered_with_its_id_only(
        two_units, units_server):  # noqa: F811
    a, _ = two_units
    status, reply = push(units_server, a.envelope(unit=NORR, pages=7))
    assert status == 201
    assert set(reply) == {"id", "sender", "received_at"}
    assert NORR not in json.dumps(reply, ensure_ascii=False)
