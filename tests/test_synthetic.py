"""Tests for appliance.devtools.synthetic: fictional Swedish printouts as PDF bytes."""

from __future__ import annotations

import hashlib
import io
import os
import random
import re
import shutil
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pikepdf
import pytest

from appliance.devtools import synthetic
from appliance.devtools.synthetic import (
    FOOTER_NOTICE,
    KINDS,
    fictional_personal_number,
    make_document,
)

PRODUCED = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)  # 07:00 in Stockholm (CET)
PNR = re.compile(r"\b(\d{4})(\d{2})(\d{2})-(\d{3})(\d)\b")

needs_pdftotext = pytest.mark.skipif(
    shutil.which("pdftotext") is None, reason="pdftotext (poppler-utils) is not installed"
)


def luhn_valid(pnr: str) -> bool:
    """Independent check of a YYYYMMDD-NNNN number: Luhn over the ten digits YYMMDDNNNC."""
    digits = [int(c) for c in pnr[2:].replace("-", "")]
    total = 0
    for i, d in enumerate(digits):
        product = d * (2 if i % 2 == 0 else 1)
        total += product // 10 + product % 10
    return len(digits) == 10 and total % 10 == 0


def is_test_series(pnr: str) -> bool:
    match = PNR.fullmatch(pnr)
    if match is None:
        return False
    year, month, day, birth_number, _ = match.groups()
    try:
        date(int(year), int(month), int(day))
    except ValueError:
        return False
    return 1900 <= int(year) <= 1940 and 980 <= int(birth_number) <= 999


def page_texts(pdf: bytes, tmp_path: Path) -> list[str]:
    """The text of each page, extracted one page at a time with pdftotext -f N -l N."""
    path = tmp_path / "doc.pdf"
    path.write_bytes(pdf)
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        count = len(doc.pages)
    texts = []
    for n in range(1, count + 1):
        result = subprocess.run(
            ["pdftotext", "-enc", "UTF-8", "-f", str(n), "-l", str(n), str(path), "-"],
            capture_output=True, check=True,
        )
        texts.append(result.stdout.decode("utf-8"))
    return texts


def page_count(pdf: bytes) -> int:
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        return len(doc.pages)


# --------------------------------------------------------------------------- page count


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("pages", [1, 2, 7])
def test_page_count_is_exact(kind: str, pages: int) -> None:
    assert page_count(make_document(kind, produced_at=PRODUCED, pages=pages)) == pages


@pytest.mark.parametrize(
    ("kind", "page_size", "landscape"),
    [("todo", "Letter", True), ("medications", "A4", True), ("relatives", "Letter", False)],
)
def test_page_count_is_exact_for_other_page_sizes(
    kind: str, page_size: str, landscape: bool
) -> None:
    pdf = make_document(kind, produced_at=PRODUCED, pages=5, page_size=page_size,
                        landscape=landscape)
    assert page_count(pdf) == 5


@needs_pdftotext
@pytest.mark.parametrize(("kind", "minimum"), [("todo", 55), ("relatives", 55),
                                               ("occupancy", 50)])
def test_pages_are_filled_with_rows(kind: str, minimum: int, tmp_path: Path) -> None:
    # One personal number per row on these kinds; an A4 portrait page holds over 60 rows.
    texts = page_texts(make_document(kind, produced_at=PRODUCED, pages=3), tmp_path)
    for n, text in enumerate(texts, start=1):
        assert len(PNR.findall(text)) >= minimum, f"page {n} is not full"


# --------------------------------------------------------------------------- marker


LAYOUTS = [
    {"page_size": "A4", "landscape": False, "rotate": 0},
    {"page_size": "Letter", "landscape": True, "rotate": 90},
    {"page_size": "A4", "landscape": True, "rotate": 270},
    {"page_size": "Letter", "landscape": False, "rotate": 180},
]


@needs_pdftotext
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda lay: "-".join(map(str, lay.values())))
def test_marker_header_and_footer_on_every_page(
    kind: str, layout: dict, tmp_path: Path
) -> None:
    marker = "PATIENTDATA-7f3a9c"
    pdf = make_document(kind, produced_at=PRODUCED, pages=4, marker=marker, **layout)
    texts = page_texts(pdf, tmp_path)
    assert len(texts) == 4
    for n, text in enumerate(texts, start=1):
        assert marker in text, f"marker missing on page {n}"
        # Header (top right) and footer (bottom right) prove nothing is clipped off the page.
        assert "Utskriven ur LifeCare 2026-11-27 07:00" in text, f"header missing on page {n}"
        assert FOOTER_NOTICE in text, f"footer missing on page {n}"
        assert f"Sida {n} av 4" in text


def test_ascii_marker_is_literally_in_every_page_content_stream() -> None:
    # Uncompressed content streams: a byte search of a disk finds a leaked plaintext PDF.
    marker = "LEAKCHECK-0042"
    pdf = make_document("todo", produced_at=PRODUCED, pages=3, marker=marker)
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        for page in doc.pages:
            assert marker.encode() in page.Contents.read_raw_bytes()


def test_without_marker_the_marker_text_is_absent() -> None:
    pdf = make_document("todo", produced_at=PRODUCED, pages=2)
    assert b"LEAKCHECK" not in pdf


@pytest.mark.parametrize(
    "marker",
    ["", "x" * 60, "emoji 🙂", "line\nbreak"],
    ids=["empty", "too-long", "no-glyph-in-font", "control-char"],
)
def test_unprintable_markers_are_refused(marker: str) -> None:
    with pytest.raises(ValueError, match="marker"):
        make_document("occupancy", produced_at=PRODUCED, marker=marker)


# --------------------------------------------------------------------------- Swedish text


@needs_pdftotext
@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("todo", ["Att göra-lista", "Utförare", "Insats/uppgift",
                  "Taggar alla utom Trygghemgång, rehabass, BAP",
                  "LCHSL_sölvesborgskommun (Jour)", "Fredag 27 november 2026"]),
        ("medications", ["Läkemedelslista", "Läkemedel", "Ordinerad av", "Överkänslighet"]),
        ("occupancy", ["Beläggningslista", "Nyckel", "Hemtj.", "inskrivna patienter"]),
        ("relatives", ["Anhöriglista", "Anhörig", "Relation", "Kontaktperson 1"]),
    ],
)
def test_swedish_characters_survive_extraction(
    kind: str, words: list[str], tmp_path: Path
) -> None:
    marker = "Ärende-ÅÄÖ-åäö-é"
    texts = page_texts(
        make_document(kind, unit="Hemsjukvård Sölvesborg Öst", produced_at=PRODUCED,
                      pages=2, marker=marker),
        tmp_path,
    )
    for text in texts:
        assert "Hemsjukvård Sölvesborg Öst" in text
        assert marker in text
        assert "FIKTIVA TESTDATA – inga verkliga personer" in text
    everything = "\n".join(texts)
    for word in words:
        assert word in everything
    assert re.search(r"Sölvesborg|Mjällby|Hällevik", everything)


@needs_pdftotext
@pytest.mark.parametrize(
    ("produced_at", "expected"),
    [
        (datetime(2026, 7, 1, 5, 0, tzinfo=UTC), "2026-07-01 07:00"),  # CEST, UTC+2
        (datetime(2026, 1, 15, 13, 30, tzinfo=UTC), "2026-01-15 14:30"),  # CET, UTC+1
        (datetime(2026, 3, 2, 9, 5, tzinfo=timezone(timedelta(hours=-5))),
         "2026-03-02 15:05"),
    ],
)
def test_print_time_is_stockholm_local(
    produced_at: datetime, expected: str, tmp_path: Path
) -> None:
    texts = page_texts(make_document("relatives", produced_at=produced_at, pages=1), tmp_path)
    assert f"Utskriven ur LifeCare {expected}" in texts[0]


@needs_pdftotext
def test_todo_times_start_at_print_time_and_ascend(tmp_path: Path) -> None:
    produced = datetime(2026, 11, 27, 13, 30, tzinfo=UTC)  # 14:30 local
    text = page_texts(make_document("todo", produced_at=produced, pages=1), tmp_path)[0]
    times = re.findall(r"^(\d{2}:\d{2})$", text, flags=re.MULTILINE)
    assert times[0] == "14:30"
    assert times == sorted(times)


# --------------------------------------------------------------------------- fictional data


def test_luhn_helper_itself() -> None:
    assert luhn_valid("19121212-1212")
    assert not luhn_valid("19121212-1213")


def fictional_personal_numbers_are_valid_test_series() -> None:
    seen = set()
    for i in range(2000):
        pnr = fictional_personal_number(random.Random(i))
        assert PNR.fullmatch(pnr), pnr
        assert luhn_valid(pnr), pnr
        assert is_test_series(pnr), pnr
        seen.add(pnr)
    assert len(seen) > 1900  # not a constant


def fictional_personal_number_is_deterministic_for_the_rng() -> None:
    assert synthetic.fictional_personal_number(random.Random(5)) == fictional_personal_number(
        random.Random(5)
    )


@needs_pdftotext
@pytest.mark.parametrize("kind", KINDS)
def test_documents_only_hold_test_series_numbers(kind: str, tmp_path: Path) -> None:
    text = "\n".join(page_texts(make_document(kind, produced_at=PRODUCED, pages=3, seed=11),
                                tmp_path))
    numbers = re.findall(r"\b\d{8}-\d{4}\b", text)
    assert numbers
    for pnr in numbers:
        assert luhn_valid(pnr), pnr
        assert is_test_series(pnr), pnr


@needs_pdftotext
def test_relatives_phone_numbers_are_in_the_fiction_range(tmp_path: Path) -> None:
    text = "\n".join(page_texts(make_document("relatives", produced_at=PRODUCED, pages=3),
                                tmp_path))
    phones = re.findall(r"\b0\d{1,3}-[\d ]{5,}\d", text)
    assert phones
    for phone in phones:
        # PTS reserves 070-174 06 05 – 070-174 06 99 for fiction.
        match = re.fullmatch(r"070-174 06 (\d\d)", phone)
        assert match is not None and 5 <= int(match.group(1)) <= 99, phone


# --------------------------------------------------------------------------- geometry


A4_W, A4_H = 595.2756, 841.8898


@pytest.mark.parametrize("rotate", [0, 90, 180, 270])
@pytest.mark.parametrize(
    ("page_size", "landscape", "box"),
    [
        ("A4", False, (A4_W, A4_H)),
        ("A4", True, (A4_H, A4_W)),
        ("Letter", False, (612.0, 792.0)),
        ("Letter", True, (792.0, 612.0)),
    ],
)
def test_mediabox_and_rotate(
    page_size: str, landscape: bool, box: tuple[float, float], rotate: int
) -> None:
    pdf = make_document("todo", produced_at=PRODUCED, pages=3, page_size=page_size,
                        landscape=landscape, rotate=rotate)
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        assert len(doc.pages) == 3
        for page in doc.pages:
            x0, y0, x1, y1 = (float(v) for v in page.MediaBox)
            assert (x0, y0) == (0, 0)
            assert x1 == pytest.approx(box[0], abs=0.01)
            assert y1 == pytest.approx(box[1], abs=0.01)
            assert int(page.obj.get("/Rotate", 0)) == rotate


# --------------------------------------------------------------------------- determinism


def test_same_arguments_give_identical_bytes() -> None:
    args = {"produced_at": PRODUCED, "pages": 3, "seed": 4, "marker": "M-1"}
    assert make_document("medications", **args) == make_document("medications", **args)


def test_identical_bytes_across_processes() -> None:
    # Guards against anything depending on hash randomisation or the wall clock.
    code = (
        "import hashlib, datetime as d; "
        "from appliance.devtools.synthetic import make_document as m; "
        "t = d.datetime(2026, 11, 27, 6, tzinfo=d.UTC); "
        "print(hashlib.sha256(m('occupancy', produced_at=t, pages=2, seed=9)).hexdigest())"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, env=env, cwd=Path(__file__).resolve().parents[1])
    here = hashlib.sha256(make_document("occupancy", produced_at=PRODUCED, pages=2, seed=9))
    assert result.stdout.strip() == here.hexdigest()


@pytest.mark.parametrize("kind", KINDS)
def test_different_seed_gives_different_document(kind: str) -> None:
    one = make_document(kind, produced_at=PRODUCED, seed=1)
    two = make_document(kind, produced_at=PRODUCED, seed=2)
    assert one != two


# --------------------------------------------------------------------------- bad arguments


def test_unknown_kind_raises_clear_error() -> None:
    with pytest.raises(ValueError, match=r"unknown document kind 'recipes'") as info:
        make_document("recipes", produced_at=PRODUCED)
    for kind in KINDS:
        assert kind in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"produced_at": datetime(2026, 11, 27, 7, 0)}, "aware"),
        ({"pages": 0}, "pages"),
        ({"pages": -3}, "pages"),
        ({"page_size": "A3"}, "page_size"),
        ({"rotate": 45}, "rotate"),
    ],
)
def test_bad_arguments_raise_value_error(kwargs: dict, match: str) -> None:
    args = {"produced_at": PRODUCED, **kwargs}
    with pytest.raises(ValueError, match=match):
        make_document("todo", **args)
