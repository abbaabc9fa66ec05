"""Per-page sign-off: every page of a kind with `signoff` (the to-do list by default) carries
"Införd i journal: ____ sign. ____" in its stamp band, above the content and never on it;
other pages do not; the cover counts the pages to sign. Printed through the private cupsd
and read back with poppler, as a nurse's printer would get them."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass

from tests.test_printing import page_count, print_and_capture, text_of

FIELD = "Införd i journal: _"
WORD = re.compile(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">'
                  r"([^<]*)</word>")


@dataclass(frozen=True)
class Word:
    x0: float
    y0: float  # from the top of the page, as poppler measures
    x1: float
    y1: float
    text: str

    def overlaps(self, other: Word) -> bool:
        return self.x0 < other.x1 and other.x0 < self.x1 and self.y0 < other.y1 \
            and other.y0 < self.y1


def words(pdf: bytes, page: int) -> list[Word]:
    xhtml = subprocess.run(["pdftotext", "-bbox", "-f", str(page), "-l", str(page), "-", "-"],
                           input=pdf, capture_output=True, check=True).stdout.decode()
    return [Word(float(a), float(b), float(c), float(d), text)
            for a, b, c, d, text in WORD.findall(xhtml)]


def test_every_todo_page_and_only_those_carry_the_field_and_the_cover_counts_them(
        installation):
    inst = installation
    inst.ingest(inst.envelope("todo", pages=3))
    inst.ingest(inst.envelope("medications", pages=2))
    pdf, _ = print_and_capture(inst, "--profile", "full")

    assert page_count(pdf) == 1 + 3 + 2 + 2  # cover, to-do, medications, forms
    with_field = [page for page in range(1, page_count(pdf) + 1)
                  if FIELD in text_of(pdf, page)]
    assert with_field == [2, 3, 4]
    for page in with_field:
        assert re.search(r"Införd i journal: _{6,} sign\. _{6,}", text_of(pdf, page))
    assert "3 sidor att signera efter avbrottet" in text_of(pdf, 1)


def test_the_field_sits_in_the_band_between_the_stamp_and_the_content(installation):
    inst = installation
    inst.ingest(inst.envelope("todo", pages=2))
    pdf, _ = print_and_capture(inst)
    for page in (2, 3):
        on_page = words(pdf, page)
        stamp_row = next(w for w in on_page if w.text == "RESERVUTSKRIFT").y0
        first = next(i for i, w in enumerate(on_page) if w.text == "Införd")
        field = [w for w in on_page[first:] if w.y0 == on_page[first].y0]
        assert " ".join(w.text for w in field).startswith("Införd i journal: ___")
        stamp = [w for w in on_page if w.y0 == stamp_row]
        content = [w for w in on_page if w not in field and w not in stamp]
        assert len(content) > 100  # the list itself, read back whole
        field_bottom = max(w.y1 for w in field)
        assert min(w.y0 for w in field) >= max(w.y1 for w in stamp)  # below the stamp text
        assert all(w.y0 >= field_bottom for w in content), \
            [w for w in content if w.y0 < field_bottom]  # the content starts below it
        assert not any(c.overlaps(f) for c in content for f in field)


def test_sign_off_is_configured_per_kind(installation):
    inst = installation
    config = inst.appliance_toml.read_text(encoding="utf-8")
    assert config.count("[kinds.todo]\n") == 1  # `init` writes it
    inst.appliance_toml.write_text(
        config.replace("[kinds.todo]\n", "[kinds.todo]\nsignoff = false\n")
        + "\n[kinds.medications]\nsignoff = true\n", encoding="utf-8")
    inst.ingest(inst.envelope("todo", pages=1))
    inst.ingest(inst.envelope("medications", pages=2))
    pdf, _ = print_and_capture(inst, "--profile", "full")
    assert [page for page in range(1, page_count(pdf) + 1)
            if FIELD in text_of(pdf, page)] == [3, 4]
    assert "2 sidor att signera efter avbrottet" in text_of(pdf, 1)


def test_a_kit_without_pages_to_sign_says_nothing_of_signing(installation):
    inst = installation
    inst.ingest(inst.envelope("medications", pages=1))
    pdf, _ = print_and_capture(inst, "--profile", "full")
    assert all(FIELD not in text_of(pdf, page) for page in range(1, page_count(pdf) + 1))
    assert "att signera" not in text_of(pdf, 1)
