"""The dependency direction of docs/architecture.md, checked on the source's AST.

Every import counts, including ones inside functions: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "appliance"

# Libraries that tie code to a framework or to hardware: only adapters (and the composition
# in cli/, devtools/) may use them.
FRAMEWORKS = {"flask", "werkzeug", "gunicorn", "cups", "gpiozero"}
# What each layer may not import, by top-level package under appliance/ or library name.
FORBIDDEN: dict[str, set[str]] = {
    "core": {"appliance.adapters", "appliance.cli", "appliance.devtools", "appliance.sender",
             *FRAMEWORKS},
    # The office side runs on Windows PCs too: only the stdlib-only adapters (webhook,
    # sdnotify), never the appliance's printer, panel or web service.
    "sender": {"appliance.adapters.cups", "appliance.adapters.panel", "appliance.adapters.web",
               "appliance.cli", "appliance.devtools", *FRAMEWORKS},
    "adapters": {"appliance.cli", "appliance.devtools", "appliance.sender"},
    "cli": set(),
    "devtools": set(),
}


def layer_of(path: Path, package: Path = PACKAGE) -> str:
    return path.relative_to(package).parts[0]


def imported_modules(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            # `from appliance import adapters` names a layer too
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names
                      if node.module == "appliance"]
    return found


def violations(path: Path, package: Path = PACKAGE) -> list[str]:
    layer = layer_of(path, package)
    forbidden = FORBIDDEN.get(layer, set()) | {"tests"}
    where = path.relative_to(package.parent)
    return [f"{where}:{line}: {layer} imports {module}"
            for line, module in imported_modules(path)
            if any(module == bad or module.startswith(bad + ".") for bad in forbidden)]


SOURCES = sorted(p for p in PACKAGE.rglob("*.py") if len(p.relative_to(PACKAGE).parts) > 1)


def test_every_module_lives_in_a_known_layer():
    top_level = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert top_level == ["__init__.py"], "put new modules in core/, adapters/, sender/, cli/ " \
        f"or devtools/, not at the top of appliance/: {top_level}"
    assert {layer_of(p) for p in SOURCES} <= set(FORBIDDEN)


def test_imports_follow_the_dependency_direction():
    problems = [problem for path in SOURCES for problem in violations(path)]
    assert problems == []


@pytest.mark.parametrize("source,layer,expected", [
    ("from appliance.adapters.cups import CupsPrinter\n", "core", 1),
    ("def f():\n    import cups\n", "core", 1),
    ("from appliance import adapters\n", "core", 1),
    ("from tests.conftest import BIN\n", "devtools", 1),
    ("from appliance.core import seal\n", "sender", 0),
    ("import flask\n", "adapters", 0),
])
def test_the_checker_itself_catches_what_it_should(tmp_path, source, layer, expected):
    fake = tmp_path / "appliance"
    (fake / layer).mkdir(parents=True)
    module = fake / layer / "mod.py"
    module.write_text(source)
    assert len(violations(module, fake)) == expected
