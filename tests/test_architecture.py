"""The dependency direction of docs/architecture.md, checked on the source's AST.

Every import counts, including ones inside functions: a lazy import is still a dependency.
Inside core the wings are layered (`WINGS`); the one import that may point up is the type
of `Services`, under `if TYPE_CHECKING:`, which never runs.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "appliance"

# Libraries that tie code to a framework, to hardware or to a wire format (prometheus_client:
# the core computes the metrics, the web adapter writes them): only adapters (and the
# composition in cli/, devtools/) may use them.
FRAMEWORKS = {"flask", "werkzeug", "gunicorn", "cups", "gpiozero", "prometheus_client"}
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


# core's wings, lowest first: a wing imports only itself and the wings before it, except
# the pairs in INDEPENDENT, which import neither way. `services` (core/services.py, the
# parts of one process) comes last.
WINGS = ("base", "crypto", "config", "records", "intake", "time", "printing", "watch",
         "services")
INDEPENDENT = {frozenset({"intake", "time"})}
TYPE_ONLY_UPWARDS = {"appliance.core.services"}


def layer_of(path: Path, package: Path = PACKAGE) -> str:
    return path.relative_to(package).parts[0]


def imported_modules(path: Path, *, runtime_only: bool = False) -> list[tuple[int, str]]:
    """Every module `path` imports, with its line; `runtime_only` leaves out the imports
    under `if TYPE_CHECKING:`."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    type_only = set()
    if runtime_only:
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                type_only |= {id(inner) for inner in ast.walk(node)}
    found = []
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
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


def wing_of(module: str) -> str | None:
    """The core wing `module` (dotted) is in; None outside core or for core itself."""
    parts = module.split(".")
    return parts[2] if parts[:2] == ["appliance", "core"] and len(parts) > 2 else None


def wing_violations(path: Path, package: Path = PACKAGE) -> list[str]:
    rel = path.relative_to(package)
    if rel.parts[0] != "core" or (rel.name == "__init__.py" and len(rel.parts) == 2):
        return []
    mine = wing_of("appliance." + ".".join(rel.with_suffix("").parts))
    where = path.relative_to(package.parent)
    runtime = set(imported_modules(path, runtime_only=True))
    problems = []
    for line, module in imported_modules(path):
        theirs = wing_of(module)
        if theirs is None or theirs == mine:
            continue
        if (line, module) not in runtime and module in TYPE_ONLY_UPWARDS:
            continue
        if frozenset({mine, theirs}) in INDEPENDENT or \
                WINGS.index(theirs) > WINGS.index(mine):
            problems.append(f"{where}:{line}: core wing {mine} imports {module}")
    return problems


SOURCES = sorted(p for p in PACKAGE.rglob("*.py") if len(p.relative_to(PACKAGE).parts) > 1)


def test_every_module_lives_in_a_known_layer():
    top_level = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert top_level == ["__init__.py"], "put new modules in core/, adapters/, sender/, cli/ " \
        f"or devtools/, not at the top of appliance/: {top_level}"
    assert {layer_of(p) for p in SOURCES} <= set(FORBIDDEN)


def test_imports_follow_the_dependency_direction():
    problems = [problem for path in SOURCES for problem in violations(path)]
    assert problems == []


def test_core_is_wings_and_services():
    core = PACKAGE / "core"
    assert sorted(p.name for p in core.glob("*.py")) == ["__init__.py", "services.py"], \
        "put core modules in a wing (docs/architecture.md, \"core's wings\")"
    assert sorted(p.name for p in core.iterdir() if p.is_dir() and p.name != "__pycache__") \
        == sorted(WINGS[:-1])
    for wing in WINGS[:-1]:
        assert ast.get_docstring(ast.parse((core / wing / "__init__.py").read_text())), \
            f"core/{wing}/__init__.py needs a docstring saying what the wing holds"


def test_core_wings_import_downwards_only():
    problems = [problem for path in SOURCES for problem in wing_violations(path)]
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


@pytest.mark.parametrize("wing,source,expected", [
    ("intake", "from appliance.core.printing.kit import compose\n", 1),  # upwards
    ("intake", "def f():\n    from appliance.core.watch import status\n", 1),  # lazy
    ("intake", "from appliance.core.time.freshness import freshness\n", 1),  # independent
    ("time", "from appliance.core.intake.store import Store\n", 1),
    ("intake", "from appliance.core.services import Services\n", 1),  # at run time
    ("intake", "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
               "    from appliance.core.services import Services\n", 0),
    ("intake", "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
               "    from appliance.core.watch.status import State\n", 1),  # only Services
    ("printing", "from appliance.core.intake.store import Store\n", 0),
    ("base", "from appliance.core.crypto import seal\n", 1),
])
def test_the_wing_checker_catches_what_it_should(tmp_path, wing, source, expected):
    module = tmp_path / "appliance" / "core" / wing / "mod.py"
    module.parent.mkdir(parents=True)
    module.write_text(source)
    assert len(wing_violations(module, tmp_path / "appliance")) == expected
