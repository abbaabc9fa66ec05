"""Timestamps an enrolled sender's own software would never write (issue 26 §1-2), sent to
the real server in validly signed envelopes: no answer is a 500, nothing the index cannot
read back is stored, and after each envelope, accepted or refused, `status` answers and
the next valid envelope is accepted. The envelopes are crafted as an independent
implementation of docs/seal-format.md would write them: the project's own sealing checks
(which refuse to write what the appliance refuses) are switched off for them."""

from __future__ import annotations

import dataclasses
import json
import urllib.error
import urllib.request
from datetime import UTC, datetime
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appliance.core.base.clock import parse_iso
from appliance.core.crypto import seal
from appliance.devtools.synthetic import make_document
from tests.conftest import Server, make_installation, post

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    inst = make_installation(tmp_path_factory.mktemp("hostile-times"))
    srv = Server(inst).start()
    yield inst, srv
    srv.stop()


class Sequence:
    """Sequence numbers above the sender's last, near the wall clock (§ sequence_ahead)."""

    def __init__(self) -> None:
        self.last = int(NOW.timestamp()) * 1_000_000

    def next(self) -> int:
        self.last += 1
        return self.last


SEQ = Sequence()


def envelope(inst, *, produced_at: str | None = None, created: str | None = None) -> bytes:
    """A signed envelope with `produced_at` and `created` spelt exactly as given."""
    content = make_document("todo", produced_at=NOW, pages=1)
    entry = seal.describe_document("todo", "Hemsjukvård Test", "Att göra-lista", NOW, content)
    entry = dataclasses.replace(entry, produced_at_as_written=(
        f"{NOW:%Y-%m-%dT%H:%M:%SZ}" if produced_at is None else produced_at))
    document = seal.Document(entry, content)
    with mock.patch.object(seal, "_check_manifest"), mock.patch.object(seal, "_check_header"), \
            mock.patch.object(seal, "isoformat_utc",
                              side_effect=lambda moment: (f"{NOW:%Y-%m-%dT%H:%M:%SZ}"
                                                         if created is None else created)):
        return seal.seal([document], inst.sender.key, inst.public_key(), SEQ.next(), NOW)


def get_status(srv) -> tuple[int, dict]:
    with urllib.request.urlopen(srv.url + "/api/v1/status", timeout=10) as response:
        return response.status, json.loads(response.read())


def still_working(inst, srv) -> None:
    status, body = get_status(srv)
    assert status == 200 and body["state"], body
    code, reply = post(srv.url + "/api/v1/snapshots", envelope(inst))
    assert code == 201, reply
    inst.status()  # the CLI reads the index back: no traceback, its exit code its state


def test_a_year_below_1000_is_stored_in_four_digits_and_breaks_nothing(site) -> None:
    inst, srv = site
    code, reply = post(srv.url + "/api/v1/snapshots",
                       envelope(inst, produced_at="0999-06-01T00:00:00Z"))
    assert code == 201, reply
    listed = json.loads(inst.appliance("snapshots", "--json").output)
    assert any(d["produced_at"] == "0999-06-01T00:00:00Z"
               for snap in listed for d in snap["documents"]), listed
    still_working(inst, srv)


@pytest.mark.parametrize("field", ["produced_at", "created"])
@pytest.mark.parametrize("written", [
    "2026-12-06T12:00:00+05:60", "2026-12-06T12:00:00+00:99", "2026-12-06T12:00:00-00:75",
    "2026-12-06T24:00:00Z", "2026-12-06T23:59:60Z", "2026-12-06T12:00:00.1234567Z",
    "0000-01-01T00:00:00Z", "999-06-01T00:00:00Z", "0001-01-01T00:30:00+01:00",
    "9999-12-31T23:59:59-01:00", "2026-12-06 12:00:00Z", "2026-12-06T12:00:00+24:00",
])
def test_an_offset_or_field_out_of_range_is_refused_as_malformed(site, field, written) -> None:
    inst, srv = site
    before = inst.store_state()
    code, reply = post(srv.url + "/api/v1/snapshots", envelope(inst, **{field: written}))
    assert (code, reply["error"]) == (400, "malformed"), reply
    # `created` is in the clear header, so the answer may say what is wrong with it; a
    # produced_at travels encrypted, and only the audit log says which rule it broke.
    detail = reply["message"] if field == "created" else inst.refusal_detail()
    assert "RFC 3339" in detail
    assert field == "created" or written not in reply["message"]
    assert inst.store_state() == before
    still_working(inst, srv)


DIGITS = st.text(alphabet="0123456789", min_size=1, max_size=5)
WRITTEN = st.one_of(
    st.builds(lambda y, mo, d, h, mi, s, frac, off: f"{y}-{mo}-{d}T{h}:{mi}:{s}{frac}{off}",
              DIGITS, DIGITS, DIGITS, DIGITS, DIGITS, DIGITS,
              st.one_of(st.just(""), DIGITS.map(lambda f: "." + f)),
              st.one_of(st.just("Z"), st.just("z"), st.just(""),
                        st.builds(lambda sign, hh, mm: f"{sign}{hh}:{mm}",
                                  st.sampled_from("+-"), DIGITS, DIGITS))),
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                 timezones=st.timezones()).map(lambda moment: moment.isoformat()),
    st.text(max_size=40),
)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(written=WRITTEN, field=st.sampled_from(["produced_at", "created"]))
def test_any_timestamp_is_stored_canonically_or_refused_never_a_500(site, written, field):
    inst, srv = site
    code, reply = post(srv.url + "/api/v1/snapshots", envelope(inst, **{field: written}))
    assert code != 500 and code < 500, (written, reply)
    if code == 201:  # then the index holds it in its one form, readable back
        parse_iso(written)  # only what parses was accepted
    status, body = get_status(srv)
    assert status == 200, body
    inst.status()


def test_a_stored_time_its_reader_cannot_parse_is_named_not_a_traceback(tmp_path) -> None:
    """A store written before the four-digit fix: status names the snapshot, the API says 503."""
    import sqlite3

    inst = make_installation(tmp_path)
    inst.ingest(inst.envelope("todo"))
    with sqlite3.connect(inst.state_dir / "index.sqlite3") as db:
        db.execute("UPDATE documents SET produced_at = '999-06-01T00:00:00Z'")
    result = inst.appliance("status", expect=2)
    assert "unreadable produced_at '999-06-01T00:00:00Z'" in result.output
    assert "snapshot " in result.output and "Traceback" not in result.output
    verified = inst.appliance("audit", "verify", expect=1)
    assert "store index: index: snapshot " in verified.output
    assert "unreadable produced_at" in verified.output and "Traceback" not in verified.output
    srv = Server(inst).start()
    try:
        with pytest.raises(urllib.error.HTTPError) as refused:
            get_status(srv)
        assert refused.value.code == 503
        assert json.loads(refused.value.read())["error"] == "store_unreadable"
    finally:
        srv.stop()
