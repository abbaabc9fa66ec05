"""Realistic but clearly fictional Swedish home-health-care printouts, as PDF bytes.

Used by the demo and by tests. Nothing here describes a real person:

* names are common Swedish first names and surnames combined at random;
* addresses are invented streets in Sölvesborg, Mjällby and Hällevik;
* personal identity numbers are in the style of Skatteverket's test series (born 1900-1940,
  birth number 980-999) with a valid Luhn check digit;
* phone numbers are taken only from 070-174 06 05 – 070-174 06 99, the range PTS reserves
  for use in fiction;
* every page carries the footer "FIKTIVA TESTDATA – inga verkliga personer".

The PDFs are written uncompressed and with reportlab's ``invariant`` mode, so the same
arguments always give byte-identical output, and an ASCII ``marker`` appears literally in the
PDF bytes as well as in the text ``pdftotext`` extracts (tests use it to search disks for
leaked plaintext).

The text is set in Liberation Sans, embedded (see `appliance.core.printing.fonts`), so a page looks
the same, glyph for glyph, on every machine that renders it.
"""

from __future__ import annotations

import io
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from reportlab.lib.pagesizes import A4, LETTER
from reportlab.lib.pagesizes import landscape as _landscape
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from appliance.core.base.clock import local_time
from appliance.core.printing import fonts

__all__ = ["FOOTER_NOTICE", "KINDS", "fictional_personal_number", "make_document"]

KINDS = ("todo", "medications", "occupancy", "relatives")
"""The document kinds `make_document` can produce."""

FOOTER_NOTICE = "FIKTIVA TESTDATA – inga verkliga personer"
"""Printed at the foot of every page."""

_TZ = ZoneInfo("Europe/Stockholm")
_PAGE_SIZES = {"A4": A4, "Letter": LETTER}
_ROTATIONS = (0, 90, 180, 270)

_FONT = fonts.REGULAR
_BOLD = fonts.BOLD
_ROW_SIZE = 7.5
_ROW_H = 10.5
_GROUP_SIZE = 8.5
_GROUP_H = 14.0
_MIN_MARKER_SIZE = 5.0
_MARGIN = 36.0
_PAD = 2.0

# --------------------------------------------------------------------------- vocabulary

_FEMALE = (
    "Astrid", "Birgit", "Britt", "Dagny", "Elsa", "Ester", "Gunhild", "Gunnel", "Greta",
    "Ingrid", "Inga", "Karin", "Margit", "Märta", "Sigrid", "Solveig", "Ulla", "Viola",
    "Signe", "Elvy", "Anna-Lisa", "Maj-Britt", "Ingegerd", "Aina", "Åsa", "Gudrun",
)
_MALE = (
    "Allan", "Arne", "Bertil", "Evert", "Folke", "Gösta", "Gunnar", "Harry", "Ingvar",
    "Karl-Erik", "Lennart", "Nils", "Olof", "Rune", "Sture", "Sven", "Tage", "Valter", "Åke",
    "Örjan", "Yngve", "Holger", "Bengt", "Erland", "Sixten", "Ragnar",
)
_YOUNGER_FEMALE = (
    "Anna", "Sara", "Linnea", "Emma", "Johanna", "Maria", "Petra", "Hanna", "Malin", "Sofia",
    "Leila", "Therese", "Jenny", "Camilla", "Åsa", "Eva", "Helena", "Ylva",
)
_YOUNGER_MALE = (
    "Jonas", "Erik", "Fredrik", "Niklas", "Amir", "Magnus", "Peter", "Mattias", "Johan",
    "Anders", "Björn", "Stefan", "Ola", "Henrik", "Örjan", "Per",
)
_STAFF_FIRST = _YOUNGER_FEMALE + _YOUNGER_MALE
_SURNAMES = (
    "Andersson", "Bengtsson", "Blomqvist", "Ek", "Fors", "Gustafsson", "Hagström", "Holm",
    "Håkansson", "Isaksson", "Jönsson", "Lind", "Ljungqvist", "Löfgren", "Mårtensson",
    "Nilsson", "Nyholm", "Ohlsson", "Persson", "Sjöberg", "Strand", "Svensson", "Åberg",
    "Öhman", "Bokelund", "Hagmark", "Tornblad", "Sälgeby", "Ekvall", "Rosenlöf",
)
_STREETS = (
    "Ekhagsvägen", "Lärkstigen", "Sjöbodsgränd", "Tallbacken", "Krokusvägen", "Fiskarevägen",
    "Strandgårdsvägen", "Kvarnbacken", "Ljungvägen", "Måsgränd", "Sillabacken", "Tångvägen",
    "Bokskogsvägen", "Ålgårdsvägen", "Klövervägen", "Hamnkroken", "Vallmovägen", "Äppelgården",
)
_PLACES = ("Sölvesborg", "Sölvesborg", "Sölvesborg", "Mjällby", "Hällevik")
_TEAMS = (
    "Team Sölvesborg centrum", "Team Sölvesborg norr", "Team Mjällby", "Team Hällevik",
    "Team Listerlandet",
)
_KEYS = (
    "Kodlåda {code}", "Kodlåda {code}", "Portkod {code} + kodlåda", "Digitalt lås",
    "Nyckelskåp nr {n}", "Patient öppnar själv", "Anhörig öppnar", "Nyckel hos granne",
)

# (task text, tag, performer). Tags never include the three the routine filters out
# (Trygghemgång, rehabass, BAP).
_TASKS = (
    ("Insulin Novorapid {dose} E sc", "Insulin", "SSK"),
    ("Insulin Insulatard {dose} E sc", "Insulin", "SSK"),
    ("Såromläggning {side} underben", "Sår", "SSK"),
    ("Såromläggning sacrum", "Sår", "SSK"),
    ("Trycksårsbedömning (RAS)", "Sår", "SSK"),
    ("Dosettdelning", "Läkemedel", "SSK"),
    ("Läkemedelsgenomgång", "Läkemedel", "SSK"),
    ("Överlämning läkemedel", "Läkemedel", "USK"),
    ("Ögondroppar {side} öga", "Delegering", "USK"),
    ("Blodsockerkontroll", "Diabetes", "USK"),
    ("Blodtryckskontroll", "Kontroll", "USK"),
    ("Vikt", "Nutrition", "USK"),
    ("Kompressionsstrumpor på", "Delegering", "USK"),
    ("KAD-byte", "Kateter", "SSK"),
    ("Blåsspolning KAD", "Kateter", "SSK"),
    ("Stomivård", "Stomi", "SSK"),
    ("Smärtskattning (NRS)", "Palliativ", "SSK"),
    ("Kontroll subkutan nål", "Palliativ", "SSK"),
    ("Injektion Fragmin 5000 E sc", "Injektion", "SSK"),
    ("Provtagning PK", "Provtagning", "SSK"),
    ("Provtagning Hb, CRP", "Provtagning", "SSK"),
    ("Fallriskbedömning (Downton)", "Bedömning", "Arbetsterapeut"),
    ("Hjälpmedelsbedömning rollator", "Hjälpmedel", "Arbetsterapeut"),
    ("Utprovning duschstol", "Hjälpmedel", "Arbetsterapeut"),
    ("Gångträning", "Rehabilitering", "Fysioterapeut"),
    ("Uppföljning förflyttning", "Rehabilitering", "Fysioterapeut"),
)

# (drug, strength, dosings, times)
_DRUGS = (
    ("Metformin", "500 mg", ("1 tabl x 2", "2 tabl x 2"), "08, 17"),
    ("Alvedon", "665 mg", ("2 tabl x 3", "2 tabl x 2"), "08, 14, 20"),
    ("Furosemid", "40 mg", ("1 tabl x 1", "½ tabl x 1"), "08"),
    ("Eliquis", "5 mg", ("1 tabl x 2",), "08, 20"),
    ("Levaxin", "50 mikrog", ("1 tabl fastande",), "07"),
    ("Omeprazol", "20 mg", ("1 kapsel x 1",), "08"),
    ("Simvastatin", "20 mg", ("1 tabl till natten",), "21"),
    ("Atorvastatin", "40 mg", ("1 tabl x 1",), "20"),
    ("Enalapril", "10 mg", ("1 tabl x 1",), "08"),
    ("Amlodipin", "5 mg", ("1 tabl x 1",), "08"),
    ("Metoprolol", "50 mg depot", ("1 tabl x 1",), "08"),
    ("Spironolakton", "25 mg", ("1 tabl x 1",), "08"),
    ("Oxynorm", "5 mg", ("1 kapsel vid behov, max 6/dygn",), "Vid behov"),
    ("Movicol", "13,8 g", ("1 dospåse x 1", "1 dospåse x 2"), "08, 20"),
    ("Insulin Novorapid", "100 E/ml", ("Enligt schema",), "07, 11, 17"),
    ("Insulin Insulatard", "100 E/ml", ("12 E sc", "16 E sc"), "21"),
    ("Fragmin", "5000 E", ("1 inj sc x 1",), "20"),
    ("Citalopram", "20 mg", ("1 tabl x 1",), "08"),
    ("Mirtazapin", "15 mg", ("1 tabl till natten",), "21"),
    ("Donepezil", "5 mg", ("1 tabl x 1",), "20"),
    ("Alendronat", "70 mg", ("1 tabl en gång i veckan (måndag)",), "07"),
    ("Calcichew-D3", "500 mg/400 IE", ("1 tugg-tabl x 2",), "08, 20"),
    ("Zopiklon", "5 mg", ("1 tabl vid behov till natten",), "Vid behov"),
    ("Oxascand", "5 mg", ("1 tabl vid behov vid oro, max 3/dygn",), "Vid behov"),
    ("Behepan", "1 mg", ("1 tabl x 1",), "08"),
    ("Morfin", "10 mg/ml inj", ("2,5 mg sc vid behov",), "Vid behov"),
    ("Midazolam", "5 mg/ml inj", ("1 mg sc vid behov",), "Vid behov"),
)
_MED_COMMENTS = (
    "", "", "", "Dosett", "Ges krossad i yoghurt", "Ges av SSK", "Delegerad till USK",
    "Utsättes {date}", "Ny dos från {date}", "Ej i dosett",
)
_INJECTION_COMMENTS = ("", "", "Ges av SSK", "Delegerad till USK", "Ny dos från {date}")
_ALLERGIES = ("Inga kända", "Inga kända", "Penicillin", "Sulfa", "Jod", "Plåster (latex)")
_OCC_NOTES = (
    "", "", "Trygghetslarm", "Syrgas i hemmet", "Hund i hemmet", "Palliativ", "Insulin",
    "Dosett", "Tolk: finska", "Hörselnedsättning", "Fallrisk", "Rökning i hemmet",
)
# (relation, relative is female, same generation as the patient)
_RELATIONS = (
    ("Dotter", True, False), ("Dotter", True, False), ("Son", False, False),
    ("Son", False, False), ("Svärdotter", True, False), ("Svärson", False, False),
    ("Syster", True, True), ("Bror", False, True), ("Barnbarn", True, False),
    ("Barnbarn", False, False), ("Granne", True, False), ("God man", False, False),
)
_REL_NOTES = (
    "Kontaktperson 1", "Ring i första hand", "Ej nattetid", "Har nyckel", "",
    "Bor i Karlshamn", "Bor i Kristianstad", "Vill bli kontaktad vid förändring",
)
_WEEKDAYS = ("måndag", "tisdag", "onsdag", "torsdag", "fredag", "lördag", "söndag")
_MONTHS = (
    "januari", "februari", "mars", "april", "maj", "juni", "juli", "augusti", "september",
    "oktober", "november", "december",
)

# --------------------------------------------------------------------------- people


def _luhn_check_digit(digits: str) -> int:
    """The Luhn (modulus 10, weights 2 and 1) check digit for the nine digits YYMMDDNNN."""
    total = 0
    for i, ch in enumerate(digits):
        product = int(ch) * (2 if i % 2 == 0 else 1)
        total += product // 10 + product % 10
    return (10 - total % 10) % 10


def _personal_number(rng: random.Random, *, female: bool) -> str:
    # Born 1918-1940: inside the test series' years and plausible for home health care.
    first = date(1918, 1, 1).toordinal()
    born = date.fromordinal(rng.randint(first, date(1940, 12, 31).toordinal()))
    series = rng.choice("89")
    sex = rng.choice("02468" if female else "13579")
    birth_number = f"9{series}{sex}"
    nine = f"{born:%y%m%d}{birth_number}"
    return f"{born:%Y%m%d}-{birth_number}{_luhn_check_digit(nine)}"


def fictional_personal_number(rng: random.Random) -> str:
    """A fictional personal identity number in Skatteverket's test-number style.

    Returns ``"YYYYMMDD-NNNN"``: a birth date in 1918-1940, a birth number in 980-999 (odd
    third digit for men, even for women, as in real numbers) and a valid Luhn check digit.
    """
    return _personal_number(rng, female=rng.random() < 0.5)


@dataclass(frozen=True)
class _Patient:
    name: str
    pnr: str
    address: str
    female: bool
    team: str
    pas: str
    key: str
    home_care: bool


class _People:
    """Invents patients and staff from one random stream; personal numbers never repeat."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._used: set[str] = set()
        self.nurses = tuple(self.staff_name() for _ in range(8))
        self.doctors = tuple(f"Leg. läk. {self.staff_name()}" for _ in range(4))

    def staff_name(self) -> str:
        return f"{self._rng.choice(_STAFF_FIRST)} {self._rng.choice(_SURNAMES)}"

    def patient(self, team: str | None = None) -> _Patient:
        rng = self._rng
        female = rng.random() < 0.6
        first = rng.choice(_FEMALE if female else _MALE)
        pnr = _personal_number(rng, female=female)
        while pnr in self._used:
            pnr = _personal_number(rng, female=female)
        self._used.add(pnr)
        address = f"{rng.choice(_STREETS)} {rng.randint(1, 48)}"
        key = rng.choice(_KEYS).format(code=rng.randint(1000, 9999), n=rng.randint(1, 60))
        return _Patient(
            name=f"{first} {rng.choice(_SURNAMES)}",
            pnr=pnr,
            address=f"{address}, {rng.choice(_PLACES)}",
            female=female,
            team=team or rng.choice(_TEAMS),
            pas=rng.choice(self.nurses),
            key=key,
            home_care=rng.random() < 0.5,
        )

    def phone(self) -> str:
        return f"070-174 06 {self._rng.randint(5, 99):02d}"


# --------------------------------------------------------------------------- row streams


@dataclass(frozen=True)
class _Group:
    """A full-width heading line (a day, a team, a patient)."""

    text: str


@dataclass(frozen=True)
class _Row:
    cells: tuple[str, ...]


_Line = _Group | _Row


@dataclass(frozen=True)
class _Spec:
    title: str
    subtitle: tuple[str, ...]
    columns: tuple[tuple[str, float], ...]  # (heading, width in points on portrait A4)
    marker_column: int
    lines: Iterator[_Line]


def _swedish_day(day: date) -> str:
    weekday = _WEEKDAYS[day.weekday()].capitalize()
    return f"{weekday} {day.day} {_MONTHS[day.month - 1]} {day.year}"


def _todo_lines(rng: random.Random, people: _People, local: datetime) -> Iterator[_Line]:
    pool = [people.patient() for _ in range(60)]
    day = local.date()
    minutes = local.hour * 60 + local.minute
    minutes = max(7 * 60, -(-minutes // 5) * 5)
    if minutes > 22 * 60:
        day, minutes = day + timedelta(days=1), 7 * 60
    yield _Group(_swedish_day(day))
    while True:
        patient = rng.choice(pool)
        text, tag, performer = rng.choice(_TASKS)
        text = text.format(dose=rng.randint(4, 30), side=rng.choice(("vä", "hö")))
        yield _Row((
            f"{minutes // 60:02d}:{minutes % 60:02d}", patient.name, patient.pnr,
            patient.address, text, tag, performer,
        ))
        minutes += rng.choice((0, 0, 5, 5, 5, 10, 15))
        if minutes > 22 * 60:
            day, minutes = day + timedelta(days=1), 7 * 60
            yield _Group(_swedish_day(day))


def _medication_lines(rng: random.Random, people: _People, local: datetime) -> Iterator[_Line]:
    while True:
        p = people.patient()
        yield _Group(
            f"{p.name}, {p.pnr} – PAS {p.pas} – "
            f"Överkänslighet: {rng.choice(_ALLERGIES)}"
        )
        for drug, strength, dosings, times in rng.sample(_DRUGS, rng.randint(4, 11)):
            when = local.date() + timedelta(days=rng.randint(1, 21))
            injected = "inj" in strength or strength.split()[-1] in ("E", "E/ml")
            comments = _INJECTION_COMMENTS if injected else _MED_COMMENTS
            comment = rng.choice(comments).format(date=f"{when:%Y-%m-%d}")
            doctor = rng.choice(people.doctors)
            yield _Row((drug, strength, rng.choice(dosings), times, doctor, comment))


def _occupancy_lines(rng: random.Random, people: _People) -> Iterator[_Line]:
    while True:
        for team in _TEAMS:
            patients = [people.patient(team) for _ in range(rng.randint(12, 30))]
            yield _Group(f"{team} – {len(patients)} inskrivna patienter")
            for p in patients:
                yield _Row((
                    p.name, p.pnr, p.address, p.key, "Ja" if p.home_care else "Nej", p.pas,
                    rng.choice(_OCC_NOTES),
                ))


def _relative_lines(rng: random.Random, people: _People) -> Iterator[_Line]:
    while True:
        p = people.patient()
        surname = p.name.split(" ", 1)[1]
        spouse = ("Make", False, True) if p.female else ("Maka", True, True)
        relations = rng.sample((spouse, *_RELATIONS), rng.choice((1, 1, 2, 2, 3)))
        for i, (relation, female, same_generation) in enumerate(relations):
            if same_generation:
                first = rng.choice(_FEMALE if female else _MALE)
            else:
                first = rng.choice(_YOUNGER_FEMALE if female else _YOUNGER_MALE)
            family = relation in ("Make", "Maka", "Son", "Dotter", "Bror", "Syster")
            last = surname if family and rng.random() < 0.6 else rng.choice(_SURNAMES)
            note = "Kontaktperson 1" if i == 0 else rng.choice(_REL_NOTES[1:])
            yield _Row((p.name, p.pnr, f"{first} {last}", relation, people.phone(), note))


def _spec(kind: str, rng: random.Random, local: datetime) -> _Spec:
    people = _People(rng)
    if kind == "todo":
        return _Spec(
            title="Att göra-lista",
            subtitle=(
                "Filter: Status alla, Typ alla, Utförd av SSK och övriga, Patient –, "
                "Taggar alla utom Trygghemgång, rehabass, BAP",
                "Dataurval: LCHSL_sölvesborgskommun (Jour)",
            ),
            columns=(
                ("Tid", 24), ("Patient", 78), ("Personnummer", 60), ("Adress", 118),
                ("Insats/uppgift", 130), ("Tagg", 52), ("Utförare", 58),
            ),
            marker_column=4,
            lines=_todo_lines(rng, people, local),
        )
    if kind == "medications":
        return _Spec(
            title="Läkemedelslista",
            subtitle=("Urval: hemsjukvårdspatienter utan hemtjänst, aktuella ordinationer",),
            columns=(
                ("Läkemedel", 70), ("Styrka", 58), ("Dosering", 124), ("Tidpunkter", 46),
                ("Ordinerad av", 106), ("Kommentar", 119),
            ),
            marker_column=5,
            lines=_medication_lines(rng, people, local),
        )
    if kind == "occupancy":
        return _Spec(
            title="Beläggningslista",
            subtitle=("Inskrivna patienter per team, med nyckelhantering och PAS",),
            columns=(
                ("Patient", 79), ("Personnummer", 60), ("Adress", 118), ("Nyckel", 84),
                ("Hemtj.", 27), ("PAS", 73), ("Notering", 82),
            ),
            marker_column=6,
            lines=_occupancy_lines(rng, people),
        )
    if kind == "relatives":
        return _Spec(
            title="Anhöriglista",
            subtitle=("Anhöriga och kontaktpersoner för inskrivna patienter",),
            columns=(
                ("Patient", 80), ("Personnummer", 60), ("Anhörig", 80), ("Relation", 45),
                ("Telefon", 56), ("Notering", 150),
            ),
            marker_column=5,
            lines=_relative_lines(rng, people),
        )
    raise ValueError(f"unknown document kind {kind!r}; expected one of {', '.join(KINDS)}")


# --------------------------------------------------------------------------- rendering


@lru_cache(maxsize=8192)
def _fit(text: str, width: float, font: str, size: float) -> str:
    """`text`, cut and ended with '…' if it is wider than `width` points."""
    if stringWidth(text, font, size) <= width:
        return text
    while text and stringWidth(text + "…", font, size) > width:
        text = text[:-1]
    return text.rstrip() + "…"


def _check_marker(marker: str, width: float) -> float:
    """The font size the marker is drawn at; refuse markers that cannot be printed whole."""
    if not marker or not marker.isprintable():
        raise ValueError("marker must be a non-empty string of printable characters")
    missing = fonts.unprintable(marker, _FONT)
    if missing:
        raise ValueError(f"marker {marker!r} has characters the font cannot print: {missing!r}")
    size = _ROW_SIZE
    while stringWidth(marker, _FONT, size) > width:
        size -= 0.5
        if size < _MIN_MARKER_SIZE:
            raise ValueError(f"marker {marker!r} is too long to fit in one table cell")
    return size


def make_document(
    kind: str,
    *,
    unit: str = "Hemsjukvård Sölvesborg",
    produced_at: datetime,
    pages: int = 2,
    seed: int = 0,
    marker: str | None = None,
    page_size: str = "A4",
    landscape: bool = False,
    rotate: int = 0,
) -> bytes:
    """Return a PDF of `kind` (one of `KINDS`) with fictional Swedish patient data.

    - `kind`: "todo" (Att göra-lista), "medications" (Läkemedelslista), "occupancy"
      (Beläggningslista) or "relatives" (Anhöriglista).
    - `unit`: the care unit printed in the header.
    - `produced_at`: an aware datetime; printed as "Utskriven ur LifeCare YYYY-MM-DD HH:MM"
      in Europe/Stockholm time. The to-do list starts at that time of day.
    - `pages`: the exact number of pages; each page is filled with table rows.
    - `seed`: the rows are a deterministic function of (`kind`, `seed`, `produced_at`).
    - `marker`: if given, printed whole in one table cell on every page (and, if ASCII,
      literally present in the PDF bytes). Up to 20 characters always fit in the cell at
      the normal size; longer markers are drawn smaller, down to 5 pt, and a marker that
      still does not fit (about 30 characters) raises ValueError.
    - `page_size`: "A4" or "Letter"; `landscape` swaps width and height.
    - `rotate`: 0, 90, 180 or 270, written as each page's /Rotate.

    Same arguments, same bytes. Raises ValueError for bad arguments.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown document kind {kind!r}; expected one of {', '.join(KINDS)}")
    if produced_at.tzinfo is None or produced_at.utcoffset() is None:
        raise ValueError("produced_at must be an aware datetime")
    if isinstance(pages, bool) or not isinstance(pages, int) or pages < 1:
        raise ValueError(f"pages must be a positive integer, not {pages!r}")
    if page_size not in _PAGE_SIZES:
        raise ValueError(f"page_size must be one of {', '.join(_PAGE_SIZES)}, not {page_size!r}")
    if rotate not in _ROTATIONS:
        raise ValueError(f"rotate must be one of 0, 90, 180, 270, not {rotate!r}")

    local = produced_at.astimezone(_TZ)
    printed = f"Utskriven ur LifeCare {local_time(local, _TZ)}"
    rng = random.Random(f"appliance.devtools.synthetic:{kind}:{seed}:{local.isoformat()}")
    spec = _spec(kind, rng, local)

    size = _PAGE_SIZES[page_size]
    width, height = _landscape(size) if landscape else size
    usable = width - 2 * _MARGIN
    total_weight = sum(weight for _, weight in spec.columns)
    col_widths = [usable * weight / total_weight for _, weight in spec.columns]
    col_x = [_MARGIN + sum(col_widths[:i]) for i in range(len(col_widths))]
    marker_width = col_widths[spec.marker_column] - 2 * _PAD
    marker_size = _check_marker(marker, marker_width) if marker is not None else _ROW_SIZE

    buffer = io.BytesIO()
    # reportlab takes `pagesize` as the size the page is *shown* at and swaps the MediaBox
    # when /Rotate is 90 or 270; we draw on an unrotated (width x height) MediaBox, so hand it
    # the swapped size to get exactly that MediaBox back. Drawing never uses `pagesize`.
    shown = (height, width) if rotate in (90, 270) else (width, height)
    canvas = Canvas(buffer, pagesize=shown, invariant=1, pageCompression=0,
                    initialFontName=_FONT)
    canvas.setTitle(f"{spec.title} – {unit}")
    canvas.setAuthor("appliance.devtools.synthetic")
    canvas.setSubject(FOOTER_NOTICE)
    canvas.setCreator("appliance.devtools.synthetic")

    lines = spec.lines
    pending: _Line | None = None
    last_group: str | None = None
    bottom = _MARGIN + 6
    for page_no in range(1, pages + 1):
        canvas.setPageRotation(rotate)
        text = canvas.beginText()

        # Header: title, unit, print time, filter lines, column headings.
        y = height - _MARGIN - 12
        text.setFont(_BOLD, 14)
        text.setTextOrigin(_MARGIN, y)
        text.textOut(spec.title)
        text.setFont(_FONT, 9)
        text.setTextOrigin(width - _MARGIN - stringWidth(printed, _FONT, 9), y)
        text.textOut(printed)
        y -= 13
        text.setFont(_BOLD, 9)
        text.setTextOrigin(_MARGIN, y)
        text.textOut(_fit(unit, usable, _BOLD, 9))
        text.setFont(_FONT, 7.5)
        for line in spec.subtitle:
            y -= 11
            text.setTextOrigin(_MARGIN, y)
            text.textOut(_fit(line, usable, _FONT, 7.5))
        y -= 8
        canvas.setFillGray(0.82)
        canvas.rect(_MARGIN, y - _ROW_H, usable, _ROW_H, stroke=0, fill=1)
        y -= _ROW_H
        text.setFont(_BOLD, _ROW_SIZE)
        for (heading, _), x, w in zip(spec.columns, col_x, col_widths, strict=True):
            text.setTextOrigin(x + _PAD, y + 3)
            text.textOut(_fit(heading, w - 2 * _PAD, _BOLD, _ROW_SIZE))

        # Body: group lines and rows until the page is full.
        marker_due = marker is not None
        first_line = True
        row_index = 0
        while True:
            line = pending if pending is not None else next(lines)
            pending = None
            if first_line and isinstance(line, _Row) and last_group is not None:
                line, pending = _Group(f"{last_group} (forts.)"), line
            if isinstance(line, _Group):
                if y - _GROUP_H - _ROW_H < bottom:  # keep a heading with its first row
                    pending = line
                    break
                y -= _GROUP_H
                text.setFont(_BOLD, _GROUP_SIZE)
                text.setTextOrigin(_MARGIN, y + 4)
                text.textOut(_fit(line.text, usable, _BOLD, _GROUP_SIZE))
                canvas.setStrokeGray(0.4)
                canvas.line(_MARGIN, y + 2, width - _MARGIN, y + 2)
                if not line.text.endswith(" (forts.)"):
                    last_group = line.text
                first_line = False
                continue
            if y - _ROW_H < bottom:
                pending = line
                break
            first_line = False
            y -= _ROW_H
            if row_index % 2:
                canvas.setFillGray(0.93)
                canvas.rect(_MARGIN, y, usable, _ROW_H, stroke=0, fill=1)
            row_index += 1
            text.setFont(_FONT, _ROW_SIZE)
            for i, (cell, x, w) in enumerate(zip(line.cells, col_x, col_widths, strict=True)):
                if marker_due and i == spec.marker_column:
                    assert marker is not None
                    text.setFont(_FONT, marker_size)
                    text.setTextOrigin(x + _PAD, y + 3)
                    text.textOut(marker)
                    text.setFont(_FONT, _ROW_SIZE)
                    marker_due = False
                    continue
                if cell:
                    text.setTextOrigin(x + _PAD, y + 3)
                    text.textOut(_fit(cell, w - 2 * _PAD, _FONT, _ROW_SIZE))

        # Footer.
        text.setFont(_FONT, 7)
        text.setTextOrigin(_MARGIN, _MARGIN - 14)
        text.textOut(FOOTER_NOTICE)
        page_label = f"Sida {page_no} av {pages}"
        text.setTextOrigin(width - _MARGIN - stringWidth(page_label, _FONT, 7), _MARGIN - 14)
        text.textOut(page_label)
        canvas.setFillGray(0)
        canvas.drawText(text)
        canvas.showPage()
    canvas.save()
    return buffer.getvalue()
