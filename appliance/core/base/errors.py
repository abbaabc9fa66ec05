"""The project's exception base class.

Every error the appliance or the sender raises on purpose derives from `ApplianceError`,
and also from the built-in it means where there is one (as gpiozero's
`BadPinFactory(GPIOZeroError, ImportError)`): `except ApplianceError` catches everything
we raise, `except ValueError` still catches a malformed input.
"""

from __future__ import annotations


class ApplianceError(Exception):
    """Base of every exception the project raises on purpose."""
