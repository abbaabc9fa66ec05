"""What a printer says about its supplies when asked, without printing anything.

Once a day the jobs service asks each printer (`Printer.supplies()`; for a class, every
member) for its state, its `printer-state-reasons` and its markers (toner, ink: IPP's
`marker-names`, `marker-types`, `marker-levels`, `marker-low-levels`, as the printer reports
them). A `SupplyReading` is one printer's answer, or the lack of one. From it come the
*warnings* for IT, `toner-low` and `paper-low`: advice that printing still works but will
soon not, never a fault and never shown to a nurse (the live conditions of
`core.printing.printer` already say when the paper or the toner is out).

`answered` is None when the printer cannot be asked without a job (a queue whose device is
neither a network printer nor a USB one CUPS lists): such a printer is never taken for
silent. No patient data: printer and marker names come from the printer and CUPS.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

TONER_LOW = "toner-low"
PAPER_LOW = "paper-low"
WARNINGS = (TONER_LOW, PAPER_LOW)

# printer-state-reasons keywords (without -error/-warning/-report) -> warning. The empty
# ones are warnings too: for IT, empty is the lowest "low" (the nurse-facing condition is
# the live report's).
REASON_WARNINGS = {
    "toner-low": TONER_LOW, "toner-empty": TONER_LOW,
    "marker-supply-low": TONER_LOW, "marker-supply-empty": TONER_LOW,
    "media-low": PAPER_LOW, "media-empty": PAPER_LOW, "media-needed": PAPER_LOW,
}
# Markers whose level rises as they fill (waste toner, waste ink): "low" means nothing there.
FILLING_MARKER_PREFIX = "waste-"


def reason_keyword(reason: str) -> str:
    """`toner-low-warning` -> `toner-low`."""
    for suffix in ("-error", "-warning", "-report"):
        if reason.endswith(suffix):
            return reason[: -len(suffix)]
    return reason


@dataclass(frozen=True)
class Supply:
    """One marker. `level` is a percentage, or None when the printer reports none (IPP's
    -1 unavailable, -2 unknown, -3 "some remaining"); `low_level` likewise."""

    name: str
    type: str
    level: int | None
    low_level: int | None

    @property
    def low(self) -> bool:
        return (self.level is not None and self.low_level is not None
                and not self.type.startswith(FILLING_MARKER_PREFIX)
                and self.level <= self.low_level)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "level": self.level,
                "low_level": self.low_level, "low": self.low}

    @classmethod
    def from_json(cls, data: dict) -> Supply:
        return cls(str(data.get("name", "")), str(data.get("type", "")),
                   _percent(data.get("level")), _percent(data.get("low_level")))


def supplies_from_ipp(attributes: dict) -> tuple[Supply, ...]:
    """The markers of an IPP printer-attributes answer: CUPS's `marker-*` lists (they run
    in step; a list shorter than `marker-names` leaves its values unknown), else the
    standard `printer-supply` (PWG 5100.13) that IPP Everywhere printers report."""
    if "marker-names" not in attributes and "marker-levels" not in attributes:
        return _printer_supply(attributes)
    names = _as_list(attributes.get("marker-names"))
    types = _as_list(attributes.get("marker-types"))
    levels = _as_list(attributes.get("marker-levels"))
    lows = _as_list(attributes.get("marker-low-levels"))
    count = max(len(names), len(levels))
    return tuple(Supply(str(_at(names, i) or f"marker {i + 1}"), str(_at(types, i) or "unknown"),
                        _percent(_at(levels, i)), _percent(_at(lows, i)))
                 for i in range(count))


def _printer_supply(attributes: dict) -> tuple[Supply, ...]:
    """`printer-supply` values ("index=1;class=supplyThatIsConsumed;type=toner;
    unit=percent;maxcapacity=100;level=45;colorantname=black;", the fields of RFC 3805's
    supplies table) with `printer-supply-description` as their names. A level is a
    percentage of `maxcapacity`; the standard gives no low level, so only the printer's
    reasons (`toner-low`) say low."""
    descriptions = _as_list(attributes.get("printer-supply-description"))
    supplies = []
    for i, value in enumerate(_as_list(attributes.get("printer-supply"))):
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
        fields = dict(part.partition("=")[::2] for part in text.split(";") if "=" in part)
        kind = re.sub(r"(?<!^)([A-Z])", r"-\1", fields.get("type", "unknown")).lower()
        level, capacity = _integer(fields.get("level")), _integer(fields.get("maxcapacity"))
        percent = (level * 100 // capacity if level is not None and level >= 0
                   and capacity is not None and capacity > 0 else None)
        supplies.append(Supply(str(_at(descriptions, i) or fields.get("colorantname")
                                   or f"supply {i + 1}"), kind, _percent(percent), None))
    return tuple(supplies)


def _integer(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


@dataclass(frozen=True)
class SupplyReading:
    """One printer's answer to the supplies check: `name` its CUPS queue, `label` what a
    nurse reads on it, `answered` whether it answered (None: it cannot be asked), and what
    it said (`state`, `reasons`, `supplies`). `detail` says for IT how it was asked, or why
    it did not answer (English)."""

    name: str
    label: str
    answered: bool | None
    state: str = "unknown"
    reasons: tuple[str, ...] = ()
    supplies: tuple[Supply, ...] = field(default_factory=tuple)
    detail: str = ""

    @property
    def warnings(self) -> tuple[str, ...]:
        """`toner-low` / `paper-low`, from the reasons and the marker levels, in order."""
        found = {REASON_WARNINGS[k] for k in map(reason_keyword, self.reasons)
                 if k in REASON_WARNINGS}
        if any(supply.low for supply in self.supplies):
            found.add(TONER_LOW)
        return tuple(w for w in WARNINGS if w in found)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "label": self.label, "answered": self.answered,
                "state": self.state, "reasons": list(self.reasons),
                "supplies": [s.to_json() for s in self.supplies],
                "warnings": list(self.warnings), "detail": self.detail}

    @classmethod
    def from_json(cls, data: dict) -> SupplyReading:
        answered = data.get("answered")
        return cls(str(data.get("name", "")), str(data.get("label") or data.get("name", "")),
                   answered if isinstance(answered, bool) else None,
                   str(data.get("state", "unknown")),
                   tuple(str(r) for r in _as_list(data.get("reasons"))),
                   tuple(Supply.from_json(s) for s in _as_list(data.get("supplies"))
                         if isinstance(s, dict)),
                   str(data.get("detail", "")))


def _as_list(value: object) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _at(values: list, index: int) -> object:
    return values[index] if index < len(values) else None


def _percent(value: object) -> int | None:
    """A level as a percentage; IPP's negative "unknown" values and anything else as None."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
        return None
    return value
