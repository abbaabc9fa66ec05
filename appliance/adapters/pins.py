"""gpiozero's pin factory, built here and passed in (`Panel(..., pin_factory)`), never
chosen through `GPIOZERO_PIN_FACTORY` in the process's environment.

`panel.pin_factory` names one of gpiozero's registered factories (the entry points of group
`gpiozero_pin_factories`: lgpio, rpigpio, pigpio, native, mock); empty means the one
`GPIOZERO_PIN_FACTORY` names, as gpiozero itself reads it, or else gpiozero's own order of
preference: lgpio first, then rpigpio, pigpio and the pure-Python native one. A
factory that cannot start (no GPIO on this machine, a library missing) raises
`NoPinFactory` with every reason, which the panel daemon shows and retries.
"""

from __future__ import annotations

import os
import tempfile
from importlib.metadata import entry_points

from gpiozero import BadPinFactory
from gpiozero.pins import Factory

ENTRY_POINT_GROUP = "gpiozero_pin_factories"
PREFERENCE = ("lgpio", "rpigpio", "pigpio", "native")  # gpiozero's own default order


class NoPinFactory(BadPinFactory):
    """No pin factory could be built; the message says why for each one tried."""


def build_pin_factory(name: str | None) -> Factory:
    """The factory `name` (None: `GPIOZERO_PIN_FACTORY`, else the first of PREFERENCE
    that starts), built now."""
    _private_lgpio_folder()
    name = name or os.environ.get("GPIOZERO_PIN_FACTORY") or None
    registered = {point.name.lower(): point for point in entry_points(group=ENTRY_POINT_GROUP)}
    tried = [name.lower()] if name else list(PREFERENCE)
    reasons = []
    for candidate in tried:
        point = registered.get(candidate)
        if point is None:
            reasons.append(f"{candidate}: not installed (gpiozero knows "
                           f"{', '.join(sorted(registered))})")
            continue
        try:
            return point.load()()
        except Exception as exc:  # each library fails its own way off a Pi
            if name:
                raise  # the one asked for: its own error, as gpiozero would raise it
            reasons.append(f"{candidate}: {exc}")
    raise NoPinFactory("; ".join(reasons) or "no pin factory is installed")


def _private_lgpio_folder() -> None:
    """lgpio writes a pipe into its working folder when imported: under the unit that is
    LG_WD (the unit's runtime folder); by hand (--selftest), a private temp folder."""
    if "LG_WD" not in os.environ:
        os.environ["LG_WD"] = tempfile.mkdtemp(prefix="appliance-lgpio-")
