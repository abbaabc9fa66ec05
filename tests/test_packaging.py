"""The wheel carries what an installed appliance needs: templates and the fonts every PDF
embeds (with their licence), both console scripts."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_wheel_ships_templates_and_console_scripts(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w",
                    str(tmp_path), str(REPO)], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = next(archive.read(n).decode() for n in names
                            if n.endswith("entry_points.txt"))
    shipped = {p.relative_to(REPO / "templates").as_posix()
               for p in (REPO / "templates").rglob("*") if p.is_file()}
    assert shipped and all(f"appliance/_templates/{name}" in names for name in shipped)
    fonts = {"fonts/LiberationSans-Regular.ttf", "fonts/LiberationSans-Bold.ttf", "fonts/LICENSE"}
    assert fonts <= shipped  # the printed kit must not depend on the printer host's fonts
    assert "appliance = appliance.cli.appliance_cli:main" in entry_points
    assert "appliance-sender = appliance.cli.sender_cli:main" in entry_points
    assert not any(name.startswith("tests/") for name in names)
