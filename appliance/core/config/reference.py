"""The settings tables of docs/configuration.md, generated from the settings' declarations.

The page keeps its hand-written prose; each table sits between two marker comments,
`<!-- BEGIN GENERATED: appliance.toml [web] -->` and `<!-- END GENERATED: ... -->`, and is
rewritten from appliance.core.config.settings. A block is generated per section, per sub-table
(`[kinds.NAME]`, `[[outbox.rules]]`, `[contacts.ROLE]`: one for the tables that share its
keys) and one example file per program.

    python -m appliance.core.config.reference          # exit 1 if the page is not current
    python -m appliance.core.config.reference --write  # bring it up to date

A test runs the check, so a setting added without regenerating the page fails the suite.
A new section needs its pair of markers written once, where its prose belongs.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterator
from pathlib import Path

from appliance.core.config.schema import (
    REQUIRED,
    ListOf,
    Setting,
    SubTable,
    TableOf,
    nodes,
    toml_key,
    toml_value,
    walk_nodes,
)
from appliance.core.config.settings import ApplianceConfig, SenderConfig

PROGRAMS = (("appliance.toml", ApplianceConfig), ("sender.toml", SenderConfig))
DOCS_PAGE = Path(__file__).resolve().parents[3] / "docs" / "configuration.md"
_BLOCK = re.compile(r"(<!-- BEGIN GENERATED: (?P<name>.+?) -->\n)(?P<body>.*?)"
                    r"(<!-- END GENERATED: (?P=name) -->)", re.DOTALL)


class StaleDocs(Exception):
    """The page lacks a block the settings need, or has one they no longer do."""


def blocks() -> dict[str, str]:
    """Every generated block's name and markdown, in the order of the declarations."""
    result = {}
    for program, cls in PROGRAMS:
        result[f"{program} example"] = _example(cls)
        for title, rows in _sections(cls):
            result[f"{program} {title}"] = rows
    return result


def render(page: str) -> str:
    """`page` with every generated block rewritten; StaleDocs if blocks are missing or extra."""
    wanted = blocks()
    found = [match["name"] for match in _BLOCK.finditer(page)]
    missing = [name for name in wanted if name not in found]
    extra = [name for name in found if name not in wanted]
    if missing or extra:
        raise StaleDocs("; ".join(
            [f"no block for {name!r}: add `<!-- BEGIN GENERATED: {name} -->` and "
             f"`<!-- END GENERATED: {name} -->` where it belongs" for name in missing]
            + [f"block {name!r} matches no setting any more: remove it" for name in extra]))
    return _BLOCK.sub(lambda m: m[1] + wanted[m["name"]] + m[4], page)


# ---------------------------------------------------------------- tables


def _sections(cls: type) -> Iterator[tuple[str, str]]:
    """("[web]", its table) for each section, then each sub-table's own block."""
    tables: dict[str, list[str]] = {}
    subtables: list[tuple[str, str]] = []
    for node in walk_nodes(cls):
        section, _, key = node.key.partition(".")
        if isinstance(node, TableOf):
            subtables.append((f"[{node.key}.NAME]", _table_of(node)))
        elif isinstance(node, ListOf):
            tables.setdefault(section, []).append(_row(
                key, f"`[[{node.key}]]` tables", "none", f"{node.doc} See below."))
            subtables.append((f"[[{node.key}]]", _entry_table(node.entry)))
        elif isinstance(node, SubTable):
            tables.setdefault(section, []).append(_row(
                key, f"`[{node.key}]` table", "none",
                f"{node.doc} Its keys: `{node.doc_title}` below."))
            if all(title != node.doc_title for title, _ in subtables):  # shared: listed once
                subtables.append((node.doc_title, _entry_table(node.entry)))
        else:
            tables.setdefault(section, []).append(_setting_row(key, node))
    for section, rows in tables.items():
        yield f"[{section}]", _table(rows)
    yield from subtables


def _table_of(node: TableOf) -> str:
    keys = [setting for _, setting in nodes(node.entry)]
    built_in = [f"| `{name}` | " + " | ".join(_cell(toml_value(spec[s.key])) for s in keys)
                + " |" for name, spec in node.builtins.items()]
    return ("Built in:\n\n"
            + "| Name | " + " | ".join(f"`{s.key}`" for s in keys) + " |\n"
            + "|---" * (len(keys) + 1) + "|\n"
            + "\n".join(built_in) + "\n\n"
            + f"`[{node.key}.NAME]`: {node.doc} Its keys:\n\n"
            + _entry_table(node.entry))


def _entry_table(entry: type) -> str:
    return _table([_setting_row(setting.key, setting) for _, setting in nodes(entry)])


def _setting_row(key: str, setting: Setting) -> str:
    doc = setting.doc
    if setting.secret:
        doc += " `config show` says only whether it is set."
    if setting.formerly:
        old = ", ".join(f"`{old}`" for old in setting.formerly)
        doc += (f" Formerly {old}." if setting.same_meaning
                else f" Replaces {old}, which meant something else.")
    return _row(key, setting.type.label, _default_doc(setting), doc)


def _default_doc(setting: Setting) -> str:
    if setting.default_doc:
        return setting.default_doc
    if setting.default is REQUIRED:
        return "required"
    return _cell(toml_value(setting.default))


def _row(key: str, label: str, default: str, doc: str) -> str:
    return f"| `{key}` | {label} | {default} | {doc.replace('|', '&#124;')} |"


def _table(rows: list[str]) -> str:
    return "| Key | Type | Default | Meaning |\n|---|---|---|---|\n" + "\n".join(rows) + "\n"


def _cell(text: str) -> str:
    return f"`{text}`".replace("|", "&#124;")


def _example(cls: type) -> str:
    """A file with every plain setting at its default, section by section."""
    lines = ["```toml"]
    section = None
    for node in walk_nodes(cls):
        if not isinstance(node, Setting):
            continue
        here, _, key = node.key.partition(".")
        if here != section:
            lines += [*([""] if section else []), f"[{here}]"]
            section = here
        if node.default_doc:  # a default that depends: on the host, on another key
            lines.append(f"# {toml_key(key)} = …  # default: {node.default_doc}")
        else:
            lines.append(f"{toml_key(key)} = {toml_value(node.default)}")
    return "\n".join([*lines, "```"]) + "\n"


# ---------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m appliance.core.config.reference",
        description="Check (default) or rewrite the generated settings tables of "
                    "docs/configuration.md.")
    parser.add_argument("--write", action="store_true", help="rewrite the page in place")
    parser.add_argument("page", nargs="?", type=Path, default=DOCS_PAGE)
    args = parser.parse_args(argv)
    page = args.page.read_text(encoding="utf-8")
    try:
        current = render(page)
    except StaleDocs as exc:
        print(f"{args.page}: {exc}", file=sys.stderr)
        return 1
    if current == page:
        print(f"{args.page}: current")
        return 0
    if args.write:
        args.page.write_text(current, encoding="utf-8")
        print(f"{args.page}: rewritten")
        return 0
    print(f"{args.page}: not current; run `python -m appliance.core.config.reference --write`",
          file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
