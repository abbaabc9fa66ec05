"""Every PDF the project draws embeds its fonts, so it prints the same on every machine.

A font that is only named (reportlab's default, Helvetica) is replaced by whatever the
rendering host has; the checks use poppler's `pdffonts`, i.e. what a CUPS host sees.
"""

from __future__ import annotations

import io
import re
import subprocess
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from reportlab.pdfgen.canvas import Canvas

from appliance.core.base.templating import templates_dir
from appliance.core.config.settings import ProfileConfig
from appliance.core.printing import fonts
from appliance.core.printing.kit import KitContext, KitDocument, MissingList, compose
from appliance.devtools.synthetic import FOOTER_NOTICE, KINDS, make_document

NOW = datetime(2026, 11, 27, 13, 30, tzinfo=UTC)
# pdffonts' columns "emb sub uni" (yes/no each), then the object number and generation.
_FONT_ROW = re.compile(r"^(?P<name>\S+)\s.*\s(?P<emb>yes|no)\s+(yes|no)\s+(yes|no)\s+\d+\s+\d+$")


def fonts_of(pdf: bytes) -> list[tuple[str, bool]]:
    """(name, embedded) for every font object `pdffonts` finds, form XObjects included."""
    listing = subprocess.run(["pdffonts", "-"], input=pdf, capture_output=True,
                             check=True).stdout.decode()
    rows = listing.splitlines()[2:]  # after the heading and the dashes
    matches = [_FONT_ROW.match(row) for row in rows]
    assert all(matches), listing
    return [(m["name"], m["emb"] == "yes") for m in matches if m]


def not_embedded(pdf: bytes) -> list[str]:
    return [name for name, embedded in fonts_of(pdf) if not embedded]


def base_names(pdf: bytes) -> set[str]:
    """Font names without the subset prefix (ABCDEF+)."""
    return {name.split("+", 1)[-1] for name, _ in fonts_of(pdf)}


def test_the_check_sees_a_font_that_is_only_named() -> None:
    buffer = io.BytesIO()
    canvas = Canvas(buffer)
    canvas.setFont("Helvetica", 10)
    canvas.drawString(72, 72, "Hemsjukvård")
    canvas.save()
    assert not_embedded(buffer.getvalue()) == ["Helvetica"]


@pytest.mark.parametrize("kind", KINDS)
def test_synthetic_documents_embed_only_liberation_sans(kind: str) -> None:
    pdf = make_document(kind, produced_at=NOW, pages=2, marker="Åsa-ÖÄ", rotate=90)
    assert not_embedded(pdf) == []
    assert base_names(pdf) == {fonts.REGULAR, fonts.BOLD}


def test_every_font_in_a_kit_is_embedded() -> None:
    # Every part of a kit: the cover with its warnings (a stale list, a missing kind, a
    # printer fault), a document stamped normally and one stamped as too old (the bold
    # alert band), the forms.
    documents = [
        KitDocument(kind, kind, "Hemsjukvård Sölvesborg", NOW - age, 2, stale,
                    make_document(kind, produced_at=NOW - age, pages=2))
        for kind, age, stale in (("todo", timedelta(hours=2), False),
                                 ("medications", timedelta(days=3), True))
    ]
    context = KitContext("jourrum-öst", NOW, ZoneInfo("Europe/Stockholm"),
                         ("dokumentation", "avvikelse"),
                         printer_fault="Skrivaren har slut på papper.")
    kit = compose(ProfileConfig("full", "Allt: alla listor och blanketter", ("*",), True),
                  documents, [MissingList("relatives", "Anhöriglista")], context)
    assert not_embedded(kit.pdf) == []
    assert base_names(kit.pdf) == {fonts.REGULAR, fonts.BOLD}


def test_fonts_have_every_character_the_printed_texts_use() -> None:
    # What the templates and the synthetic lists print, plus what the code adds: the
    # Swedish letters, dashes, bullets and the middle dot of the footers.
    printed = "".join(path.read_text(encoding="utf-8")
                      for path in (templates_dir() / "print").rglob("*.j2"))
    printed += FOOTER_NOTICE + "åäöÅÄÖéü–—•·…½"
    for font in (fonts.REGULAR, fonts.BOLD):
        assert fonts.unprintable(printed.replace("\n", ""), font) == ""
    assert fonts.unprintable("🙂") == "🙂"  # and the check can tell
