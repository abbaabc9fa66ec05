"""Where the Jinja templates live and how they are loaded.

Installed, they ship inside the package as `appliance/_templates` (pyproject's
force-include); in a source checkout they are the repository's `templates/` folder.
"""

from __future__ import annotations

import functools
from pathlib import Path

import jinja2

PACKAGE_DIR = Path(__file__).resolve().parents[2]  # appliance/


def templates_dir() -> Path:
    for candidate in (PACKAGE_DIR / "_templates", PACKAGE_DIR.parent / "templates"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("templates folder not found (broken installation)")


@functools.cache
def environment() -> jinja2.Environment:
    """Templates for printed sheets: plain text, undefined variables are errors."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir()),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render(name: str, **context) -> str:
    return environment().get_template(name).render(**context)
