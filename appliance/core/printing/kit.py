"""The kit: what one press of the button prints, as one PDF.

Order: cover sheet (age of the data in big type, warnings, contents, the routine's
reminders), the contacts sheet (who to call: `contacts`), then each document with every
page stamped in a margin band (kind, unit, data time, print time, page i/n of the kit),
then the blank forms. Everything happens in memory; the result holds patient data and is
handed straight to CUPS.

Pages of a kind with `signoff` get the field "Införd i journal: ____ sign." in a taller
stamp band, and the cover says how many pages there are to sign. A drill kit
(`KitContext.drill`) carries "ÖVNING – INTE FÖR VÅRD" diagonally across every page, cover
and forms included, and says so on its cover.

A document that cannot be composed is left out, with a line on the cover, and the rest of
the kit, forms included, still prints: one that fails the current limits (`PdfLimits`,
checked again here because it may have been stored before they were lowered), and one
whose composing fails all the same (a pikepdf error, or memory running out).
"""

from __future__ import annotations

import contextlib
import io
import logging
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import pikepdf

from appliance.core.base.clock import local_time
from appliance.core.base.templating import render
from appliance.core.config.settings import ProfileConfig
from appliance.core.intake.pdf import PdfLimits, UnreadablePdf, count_pages, decode_limits
from appliance.core.printing.sheets import Footer, render_sheet
from appliance.core.printing.stamping import (
    BAND_MM,
    SIGNOFF_BAND_MM,
    Stamp,
    add_watermark,
    append_stamped,
)
from appliance.core.printing.wording import (
    CLOCK_UNSURE,
    DRILL_MARK,
    NOT_CURRENT,
    PRINTED,
    age_bound,
    contacts_pointer,
    data_from,
    kit_page,
    kit_title,
    labelled_age,
)

COVER_TEMPLATE = "print/cover.txt.j2"
FORM_TEMPLATE = "print/form-{name}.txt.j2"
FORM_TITLES = {"dokumentation": "Dokumentation under driftavbrott",
               "avvikelse": "Avvikelserapport – driftavbrott"}
COMPOSE_FAILED = "compose_failed"  # `left_out` reason of a document whose composing failed
SIGNOFF_FIELD = "Införd i journal: ________________  sign. ____________"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KitDocument:
    """One decrypted document chosen for the kit."""

    kind: str
    title: str  # the kind's Swedish title
    unit: str
    produced_at: datetime
    pages: int
    stale: bool
    content: bytes  # plaintext PDF: memory only
    signoff: bool = False  # each page gets the "Införd i journal" field (the kind's `signoff`)


@dataclass(frozen=True)
class MissingList:
    """A list the profile wants that the store does not hold: a kind, for a configured unit
    (None in single-unit mode)."""

    kind: str
    title: str  # the kind's Swedish title
    unit: str | None = None

    @property
    def key(self) -> str:
        """`todo`, or `todo/Hemsjukvård Norr`: for the audit log and the CLI."""
        return self.kind if self.unit is None else f"{self.kind}/{self.unit}"


@dataclass(frozen=True)
class KitSummary:
    """What went into a kit, without content: safe for the audit log and the CLI."""

    profile: str
    pages: int
    documents: tuple[dict, ...]  # kind, unit, produced_at, pages, stale, first_page
    missing: tuple[str, ...]  # `MissingList.key` of each list wanted but not held
    stale: tuple[str, ...]
    forms: tuple[str, ...]
    left_out: tuple[dict, ...] = ()  # kind, unit, reason (a refusal code or compose_failed)
    signoff_pages: int = 0  # pages with the "Införd i journal" field
    drill: bool = False


@dataclass(frozen=True)
class Kit:
    pdf: bytes
    summary: KitSummary


@dataclass(frozen=True)
class KitContext:
    appliance: str
    printed_at: datetime
    timezone: ZoneInfo
    forms: tuple[str, ...]
    limits: PdfLimits | None = None  # each document is checked against them first
    # The printer's fault when the kit was ordered (Swedish): the kit waits in the queue and
    # comes out later, so the cover says why and that the times above still hold.
    printer_fault: str | None = None
    drill: bool = False  # an outage drill: DRILL_MARK across every page
    # The clock cannot be trusted (clock_trust): `printed_at` is a lower bound on the true
    # time, so every age on the cover and the stamps is printed as "minst ...".
    clock_unsure: bool = False
    # A class of printers: the members the kit may come out of, as ready when it was
    # ordered (CUPS picks one only once the job is queued; PrinterReport.destinations).
    destinations: tuple[str, ...] = ()
    # The contacts sheet's markup (contacts.contacts_sheet), printed right after the cover;
    # the print service always gives one. None: a kit without it (tests of other pages).
    contacts_sheet: str | None = None
    # A planned outage under way when the kit was printed ("Planerat avbrott 12 dec
    # 18:00–22:00", wording.planned_outage): the cover says which outage the paper is for.
    planned_outage: str | None = None


@dataclass(frozen=True)
class _LeftOut:
    document: KitDocument
    reason: str


class _DocumentFailed(Exception):
    def __init__(self, document: KitDocument) -> None:
        super().__init__(document.kind)
        self.document = document


def compose(profile: ProfileConfig, documents: list[KitDocument], missing: list[MissingList],
            context: KitContext) -> Kit:
    """Build the kit PDF; the cover warns of each `missing` list and of each document left
    out. A document whose composing fails is left out and the kit composed again without it
    (so page numbers stay right): that costs time only when something is wrong."""
    left_out = [_LeftOut(doc, reason) for doc, reason in _failing_limits(documents, context)]
    kept = [doc for doc in documents if all(doc is not gone.document for gone in left_out)]
    while True:
        try:
            return _compose(profile, kept, missing, left_out, context)
        except _DocumentFailed as failed:
            log.error("a %s document of %s could not be composed and is left out of the kit: "
                      "%s", failed.document.kind, failed.document.unit,
                      type(failed.__cause__).__name__)
            left_out.append(_LeftOut(failed.document, COMPOSE_FAILED))
            kept = [doc for doc in kept if doc is not failed.document]


def _failing_limits(documents: list[KitDocument], context: KitContext
                    ) -> list[tuple[KitDocument, str]]:
    """The documents that fail the current limits, with the refusal code each would get."""
    if context.limits is None:
        return []
    failing = []
    for doc in documents:
        try:
            count_pages(doc.content, context.limits)
        except UnreadablePdf as exc:
            log.error("a %s document of %s is left out of the kit: %s", doc.kind, doc.unit,
                      exc.reason)
            failing.append((doc, exc.reason))
    return failing


def _compose(profile: ProfileConfig, documents: list[KitDocument], missing: list[MissingList],
             left_out: list[_LeftOut], context: KitContext) -> Kit:
    forms = context.forms if profile.forms else ()
    local = _local_formatter(context.timezone)
    footer_left = f"Reservutskrift · {context.appliance} · {PRINTED} {local(context.printed_at)}"
    document_pages = sum(doc.pages for doc in documents)

    def sheets(total: int, cover_pages: int) -> tuple[list[bytes], list[bytes]]:
        """The cover and the contacts sheet (the sheets before the documents), and the
        forms; `cover_pages` says where the contacts sheet starts, for the cover."""
        contacts_page = cover_pages + 1 if context.contacts_sheet is not None else None
        cover_markup = _cover_markup(profile, documents, missing, left_out, forms, context,
                                     total, contacts_page)
        front = [render_sheet(cover_markup, Footer(footer_left, 1, total))]
        if context.contacts_sheet is not None:
            front.append(render_sheet(context.contacts_sheet,
                                      Footer(footer_left, 1 + _page_count(front[0]), total)))
        first = 1 + sum(map(_page_count, front)) + document_pages
        rendered = []
        for name in forms:
            form = render_sheet(render(FORM_TEMPLATE.format(name=name)),
                                Footer(footer_left, first, total))
            rendered.append(form)
            first += _page_count(form)
        return front, rendered

    # Sheets are laid out twice: once to count their pages, once with the page counter right.
    front, rendered_forms = sheets(total=0, cover_pages=1)
    total = (sum(map(_page_count, front)) + document_pages
             + sum(_page_count(form) for form in rendered_forms))
    front, rendered_forms = sheets(total=total, cover_pages=_page_count(front[0]))

    out = io.BytesIO()
    with _decode_limits(context), pikepdf.new() as kit:
        sources = [pikepdf.open(io.BytesIO(sheet)) for sheet in front]
        for source in sources:
            kit.pages.extend(source.pages)
        page_number = len(kit.pages)
        for doc in documents:
            try:
                page_number += append_stamped(
                    kit, doc.content, _stamper(doc, page_number, total, local, context),
                    band_mm=SIGNOFF_BAND_MM if doc.signoff else BAND_MM)
            except (MemoryError, pikepdf.PdfError, ValueError, TypeError, KeyError) as exc:
                raise _DocumentFailed(doc) from exc
        for form in rendered_forms:
            sources.append(pikepdf.open(io.BytesIO(form)))
            kit.pages.extend(sources[-1].pages)
        if context.drill:
            add_watermark(kit, DRILL_MARK)
        # no patient data in metadata: the title is the profile's
        kit.docinfo["/Title"] = kit_title(profile.title, drill=context.drill)
        kit.save(out, min_version="1.7")  # pikepdf.new() alone would claim PDF 1.3
        for source in sources:
            source.close()
    first_pages = _first_pages(sum(map(_page_count, front)), documents)
    summary = KitSummary(
        profile=profile.name, pages=total,
        documents=tuple({"kind": d.kind, "unit": d.unit, "pages": d.pages, "stale": d.stale,
                         "produced_at": d.produced_at.isoformat(), "first_page": first}
                        for d, first in zip(documents, first_pages, strict=True)),
        missing=tuple(m.key for m in missing),
        stale=tuple(sorted({d.kind for d in documents if d.stale})),
        forms=forms,
        left_out=tuple({"kind": gone.document.kind, "unit": gone.document.unit,
                        "reason": gone.reason} for gone in left_out),
        signoff_pages=_signoff_pages(documents),
        drill=context.drill,
    )
    return Kit(out.getvalue(), summary)


def _decode_limits(context: KitContext):
    """qpdf's decoding capped at the stream limit while composing (see pdf.decode_limits)."""
    if context.limits is None:
        return contextlib.nullcontext()
    return decode_limits(context.limits.max_stream_bytes)


def _stamper(doc: KitDocument, pages_before: int, total: int, local, context: KitContext):
    """Each page's band: first and large, the data's age (and EJ AKTUELL on black when the
    list is not current), then kind and unit; below, small, where the data is from, when it
    was printed and the kit's own page counter."""
    age = labelled_age(context.printed_at - doc.produced_at, at_least=context.clock_unsure)
    headline = " · ".join([age, *([NOT_CURRENT] if doc.stale else []), doc.title, doc.unit])
    left = f"Reservutskrift · {data_from(local(doc.produced_at))}"
    if context.clock_unsure:
        left += f" · {CLOCK_UNSURE}"

    def stamp(index: int, count: int) -> Stamp:
        page = pages_before + index + 1
        right = f"{PRINTED} {local(context.printed_at)} · {kit_page(page, total)}"
        return Stamp(left, right, alert=doc.stale, headline=headline,
                     signoff=SIGNOFF_FIELD if doc.signoff else None)

    return stamp


def _first_pages(front_pages: int, documents: list[KitDocument]) -> list[int]:
    """Where each document starts by the kit's own page counter ("Utskrift sida 3 av 12"):
    in the audit entry, so the report after an outage can name every page that went out."""
    firsts, page = [], front_pages + 1
    for doc in documents:
        firsts.append(page)
        page += doc.pages
    return firsts


def _signoff_pages(documents: list[KitDocument]) -> int:
    return sum(doc.pages for doc in documents if doc.signoff)


def _cover_markup(profile: ProfileConfig, documents: list[KitDocument],
                  missing: list[MissingList], left_out: list[_LeftOut],
                  forms: tuple[str, ...], context: KitContext, total: int,
                  contacts_page: int | None) -> str:
    local = _local_formatter(context.timezone)
    # The oldest to-do list (of any unit) is the headline: a fresh unit never hides a stale one.
    todo = [d for d in documents if d.kind == "todo"]
    headline = min(todo or documents, key=lambda d: d.produced_at) if documents else None
    return render(
        COVER_TEMPLATE,
        appliance=context.appliance,
        printed_at=local(context.printed_at),
        profile_title=profile.title,
        headline=None if headline is None else {
            "title": headline.title,
            "age": _age(context, headline.produced_at),
            "produced": local(headline.produced_at),
        },
        documents=[{"title": d.title, "unit": d.unit, "produced": local(d.produced_at),
                    "age": _age(context, d.produced_at), "pages": d.pages,
                    "stale": d.stale} for d in documents],
        missing=[{"title": m.title, "unit": m.unit} for m in missing],
        left_out=[{"title": gone.document.title, "unit": gone.document.unit}
                  for gone in left_out],
        stale=[{"title": d.title, "unit": d.unit} for d in documents if d.stale],
        forms=[FORM_TITLES.get(name, name) for name in forms],
        total_pages=total,
        printer_fault=context.printer_fault,
        clock_unsure=CLOCK_UNSURE if context.clock_unsure else None,
        signoff_pages=_signoff_pages(documents),
        drill=context.drill,
        destinations=list(context.destinations),
        contacts_pointer=None if contacts_page is None else contacts_pointer(contacts_page),
        planned_outage=context.planned_outage,
    )


def _age(context: KitContext, produced_at: datetime) -> str:
    """The data's age at printing: `5 h 12 min`, or `minst 5 h 12 min` when the clock
    cannot be trusted and `printed_at` is only a lower bound."""
    return age_bound(context.printed_at - produced_at, at_least=context.clock_unsure)


def _local_formatter(tz: ZoneInfo):
    return lambda moment: local_time(moment, tz)


def _page_count(pdf: bytes) -> int:
    with pikepdf.open(io.BytesIO(pdf)) as opened:
        return len(opened.pages)
