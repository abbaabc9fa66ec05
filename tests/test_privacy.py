"""Patient data never reaches the appliance's disk or logs in plaintext."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pikepdf

from appliance.devtools.synthetic import make_document
from tests.conftest import post

MARKER = "Zqxmarkör-Patient-4711"


def uncompressed_pdf_with_marker() -> bytes:
    """A PDF whose text is stored uncompressed, so the marker would be found by a byte search
    if the PDF itself were written anywhere."""
    content = make_document("todo", produced_at=datetime.now(UTC), pages=2, marker=MARKER)
    out = io.BytesIO()
    with pikepdf.open(io.BytesIO(content)) as pdf:
        pdf.save(out, compress_streams=False,
                 stream_decode_level=pikepdf.StreamDecodeLevel.generalized)
    return out.getvalue()


def marker_forms() -> list[bytes]:
    ascii_part = b"Patient-4711"  # survives any PDF text encoding of the whole marker
    return [MARKER.encode(), MARKER.encode("latin-1"), ascii_part]


def test_no_plaintext_under_the_state_dir_or_in_logs(installation, server):
    pdf = uncompressed_pdf_with_marker()
    assert any(form in pdf for form in marker_forms()), "the test PDF must carry the marker"
    body = installation.envelope(content=pdf)
    assert not any(form in body for form in marker_forms())

    assert post(server.url + "/api/v1/snapshots", body)[0] == 201
    # a refused copy of the same data (replay) must not leave traces either
    assert post(server.url + "/api/v1/snapshots", body)[0] == 409
    installation.appliance("status")
    installation.appliance("snapshots", "--json")

    searched = 0
    for path in [*installation.root.rglob("*")]:
        if path.is_file():
            data = path.read_bytes()
            searched += 1
            for form in marker_forms():
                assert form not in data, f"plaintext patient data found in {path}"
    assert searched >= 8  # keys, index, WAL, envelope, audit log, server log, configs
    assert "Patient-4711" not in server.log()
