"""Property-based: arbitrary clear headers, bodies and HTTP headers thrown at the real HTTP
API (nginx + gunicorn) always get a 4xx JSON answer and never change the store."""

from __future__ import annotations

import http.client
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appliance.core.crypto import seal
from tests.conftest import Server, make_installation, post
from tests.test_audit_flood import with_header

FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])
# Every code point, lone surrogates (category Cs) included: JSON can spell them as \udXXX.
# Controls, format characters and lone surrogates on their own, or they are rarely drawn.
ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=40) | st.text(
    st.characters(categories=["Cs", "Cc", "Cf"]), min_size=1, max_size=8)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | ANY_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(ANY_TEXT, inner, max_size=4),
    max_leaves=12)
# Headers a client may set freely; framing and routing headers are nginx's business.
HEADER_NAMES = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz-"), min_size=1,
                       max_size=20).filter(lambda name: name.strip("-") and name not in {
                           "content-length", "transfer-encoding", "host", "connection",
                           "expect", "te", "upgrade"})
HEADER_VALUES = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF,
                                      exclude_characters="\x7f"), max_size=60)


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    inst = make_installation(tmp_path_factory.mktemp("fuzz"))
    server = Server(inst).start()
    base = inst.envelope()
    assert post(server.url + "/api/v1/snapshots", base)[0] == 201  # now a replay: 409
    yield inst, server, base
    server.stop()


def request(server: Server, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request("POST", "/api/v1/snapshots", body=body, headers=headers)
        response = conn.getresponse()
        raw = response.read()
        assert response.getheader("Content-Type", "").startswith("application/json"), raw
        return response.status, json.loads(raw)
    finally:
        conn.close()


def assert_refused(api, body: bytes, headers: dict[str, str] | None = None) -> dict:
    inst, server, _ = api
    before = inst.store_state()
    status, reply = request(server, body,
                            headers or {"Content-Type": "application/octet-stream"})
    assert 400 <= status < 500, reply
    assert isinstance(reply.get("error"), str) and isinstance(reply.get("message"), str)
    assert len(reply["message"]) <= 300
    assert inst.store_state() == before
    return reply


def test_a_lone_surrogate_key_is_refused_as_malformed(api):
    _, _, base = api
    reply = assert_refused(api, with_header(base, lambda t: '{"\\ud800":1,' + t[1:]))
    assert reply["error"] == "malformed"


@FUZZ
@given(extra=st.dictionaries(ANY_TEXT, JSON_VALUES, max_size=3),
       replaced=st.dictionaries(st.sampled_from(
           ["version", "suite", "sender", "recipient", "seq", "created", "documents"]),
           JSON_VALUES, max_size=2))
def test_arbitrary_clear_headers_get_4xx_json(api, extra, replaced):
    _, _, base = api

    def edit(text: str) -> str:
        header = json.loads(text) | extra | replaced
        return json.dumps(header, sort_keys=True, separators=(",", ":"))  # \u escapes

    assert_refused(api, with_header(base, edit))


@FUZZ
@given(body=st.binary(max_size=2048) | st.binary(max_size=1024).map(
    lambda rest: seal.PREFIX.pack(seal.MAGIC, seal.VERSION, len(rest)) + rest))
def test_arbitrary_bodies_get_4xx_json(api, body):
    assert_refused(api, body)


@FUZZ
@given(content_type=HEADER_VALUES,
       headers=st.dictionaries(HEADER_NAMES, HEADER_VALUES, max_size=5),
       flip=st.integers(0, 10**6))
def test_arbitrary_http_headers_and_flipped_envelopes_get_4xx_json(api, content_type, headers,
                                                                  flip):
    _, _, base = api
    body = bytearray(base)
    body[flip % len(body)] ^= 0x5A
    assert_refused(api, bytes(body), headers | {"Content-Type": content_type})
