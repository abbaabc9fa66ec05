"""Each setting declared once, as a field of a frozen dataclass; everything else derived.

`setting(key, type, default, doc, must=...)` makes a dataclass field whose metadata holds the
whole declaration. From those fields come: loading and validation (`load`: every problem at
once, one line each: key path, what it must be, the value found and why it was refused),
"did you mean" for unknown keys and a pointer from renamed keys to their new name,
`config show` (`settings_in_force`) and the tables in docs/configuration.md
(appliance.core.config.reference).

Keys are dotted paths from the top of the file (`web.port`), except inside an entry of a
`table_of`, `list_of` or `sub_table`, where they are relative to the entry (`title` in
`[kinds.NAME]`, `phone` in `[contacts.it_support]`).
Defaults are written as they would be in the file (`"Europe/Stockholm"`, `64` MiB) and the
type turns them into the dataclass's value (a ZoneInfo, bytes), once, at import, so a wrong
default fails the first test that imports the module.
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import json
import os
import re
import tomllib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from appliance.core.base.errors import ApplianceError

_NODE = "appliance.config.node"  # the dataclass field metadata key holding the declaration
_MISSING = object()
REQUIRED = object()  # default of a setting that must be written (only inside entries)


class ConfigError(ApplianceError, ValueError):
    """One or more problems in a config file; `problems` holds one line per key."""

    def __init__(self, source: Path | str, problems: list[str]) -> None:
        self.source = str(source)
        self.problems = problems
        super().__init__(
            f"{self.source}: {len(problems)} problem(s) in the configuration:\n"
            + "\n".join(f"  {problem}" for problem in problems)
        )


class Invalid(Exception):
    """A value a type refuses; the message says why, e.g. `expected 1..65535`."""


# ---------------------------------------------------------------- value types
# Each type has `label` (the docs' Type column), `parse(value, base)` (file value to the
# dataclass's value, or raise Invalid; `base` is the config file's folder) and `dump(value)`
# (the dataclass's value back to a file value, for `config show` and the docs).


@dataclass(frozen=True)
class Text:
    pattern: str | None = None  # a regular expression the whole text must match
    rule: str = ""  # says the pattern in words, as the reason a value is refused

    @property
    def label(self) -> str:
        return "text"

    def parse(self, value: Any, base: Path) -> str:
        if not isinstance(value, str) or not value.strip():
            raise Invalid("expected non-empty text")
        if self.pattern and not re.fullmatch(self.pattern, value):
            raise Invalid(self.rule)
        return value

    def dump(self, value: str) -> str:
        return value


@dataclass(frozen=True)
class Integer:
    low: int
    high: int
    scale: int = 1  # the dataclass holds value * scale (MiB in the file, bytes in code)

    @property
    def label(self) -> str:
        return f"integer {self.low}–{self.high}"

    def parse(self, value: Any, base: Path) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise Invalid("expected an integer")
        if not self.low <= value <= self.high:
            raise Invalid(f"expected {self.low}..{self.high}")
        return value * self.scale

    def dump(self, value: int) -> int:
        return value // self.scale


@dataclass(frozen=True)
class Number:
    low: float
    high: float

    @property
    def label(self) -> str:
        return f"number {self.low}–{self.high}"

    def parse(self, value: Any, base: Path) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise Invalid("expected a number")
        if not self.low <= value <= self.high:
            raise Invalid(f"expected {self.low}..{self.high}")
        return float(value)

    def dump(self, value: float) -> float:
        return value


@dataclass(frozen=True)
class Boolean:
    label = "true/false"

    def parse(self, value: Any, base: Path) -> bool:
        if not isinstance(value, bool):
            raise Invalid("expected true or false")
        return value

    def dump(self, value: bool) -> bool:
        return value


@dataclass(frozen=True)
class Choice:
    """One of fixed names; `choices` maps each name to the dataclass's value."""

    choices: Mapping[str, Any]

    @property
    def label(self) -> str:
        return "one of " + ", ".join(f"`{json.dumps(name)}`" for name in self.choices)

    def parse(self, value: Any, base: Path) -> Any:
        if not isinstance(value, str) or value not in self.choices:
            raise Invalid(f"expected one of {', '.join(self.choices)}")
        return self.choices[value]

    def dump(self, value: Any) -> str:
        return next(name for name, choice in self.choices.items() if choice == value)


def names(*choices: str) -> Mapping[str, str]:
    """Choices whose value in code is the name itself."""
    return {name: name for name in choices}


@dataclass(frozen=True)
class OrEmpty:
    """`""` means "not set" (None in code); anything else must be a valid `inner`."""

    inner: Any

    @property
    def label(self) -> str:
        return f'{self.inner.label}, or `""`'

    def parse(self, value: Any, base: Path) -> Any:
        if value == "":
            return None
        try:
            return self.inner.parse(value, base)
        except Invalid as exc:
            raise Invalid(f"{exc}, or empty") from None

    def dump(self, value: Any) -> Any:
        return "" if value is None else self.inner.dump(value)


@dataclass(frozen=True)
class FilePath:
    """A path: `~` and `$VARS` expanded, relative paths taken from the config file's folder."""

    label = "path"

    def parse(self, value: Any, base: Path) -> Path:
        text = Text().parse(value, base)
        path = Path(os.path.expandvars(text)).expanduser()
        return path if path.is_absolute() else base / path

    def dump(self, value: Path) -> str:
        return str(value)


@dataclass(frozen=True)
class Url:
    label = "http:// or https:// URL"

    def parse(self, value: Any, base: Path) -> str:
        if not isinstance(value, str) or not re.match(r"https?://[^/\s]+", value):
            raise Invalid("expected an http:// or https:// URL")
        return value

    def dump(self, value: str) -> str:
        return value


@dataclass(frozen=True)
class TimeZone:
    label = "IANA time zone"

    def parse(self, value: Any, base: Path) -> ZoneInfo:
        if not isinstance(value, str):
            raise Invalid("expected text")
        try:
            return ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise Invalid("unknown time zone") from None

    def dump(self, value: ZoneInfo) -> str:
        return value.key


@dataclass(frozen=True)
class ListOfText:
    """A list of texts (a tuple in code), each matching `pattern`."""

    pattern: str
    rule: str  # what each item must be, e.g. "a kind name"

    @property
    def label(self) -> str:
        return "list of text"

    def parse(self, value: Any, base: Path) -> tuple[str, ...]:
        if not isinstance(value, list):
            raise Invalid("expected a list, even of one item: [\"a\"]")
        for item in value:
            if not isinstance(item, str) or not re.fullmatch(self.pattern, item):
                raise Invalid(f"{item!r} is not {self.rule}")
        return tuple(value)

    def dump(self, value: tuple[str, ...]) -> list[str]:
        return list(value)


@dataclass(frozen=True)
class Networks:
    """A list of IP addresses or networks in CIDR notation (`10.10.0.5`, `10.10.0.0/24`,
    `::1`), kept as written (a tuple in code): nginx's `allow` takes both forms."""

    @property
    def label(self) -> str:
        return "list of addresses or networks"

    def parse(self, value: Any, base: Path) -> tuple[str, ...]:
        if not isinstance(value, list):
            raise Invalid('expected a list, even of one address: ["10.10.0.5"]')
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except (TypeError, ValueError):
                raise Invalid(f"{item!r} is not an IP address or a network such as "
                              "10.10.0.0/24") from None
        return tuple(value)

    def dump(self, value: tuple[str, ...]) -> list[str]:
        return list(value)


@dataclass(frozen=True)
class ListOfIntegers:
    low: int
    high: int

    @property
    def label(self) -> str:
        return f"list of integers {self.low}–{self.high}"

    def parse(self, value: Any, base: Path) -> tuple[int, ...]:
        if not isinstance(value, list) or not value:
            raise Invalid("expected a non-empty list")
        for item in value:
            if isinstance(item, bool) or not isinstance(item, int) or \
                    not self.low <= item <= self.high:
                raise Invalid(f"{item!r} is not an integer {self.low}..{self.high}")
        return tuple(value)

    def dump(self, value: tuple[int, ...]) -> list[int]:
        return list(value)


@dataclass(frozen=True, order=True)
class Slot:
    """A time of day, local time, at which an export is expected."""

    hour: int
    minute: int

    def __str__(self) -> str:
        return f"{self.hour:02d}:{self.minute:02d}"


def _time_of_day(item: Any) -> Slot:
    """"07:00" as a Slot, or Invalid."""
    if not isinstance(item, str) or not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", item):
        raise Invalid(f'{item!r} is not a time from "00:00" to "23:59"')
    return Slot(int(item[:2]), int(item[3:]))


@dataclass(frozen=True)
class Times:
    """A list of "HH:MM" times of day: sorted, without repeats, in code."""

    label = 'list of "HH:MM"'

    def parse(self, value: Any, base: Path) -> tuple[Slot, ...]:
        if not isinstance(value, list):
            raise Invalid('expected a list, even of one time: ["08:00"]')
        return tuple(sorted({_time_of_day(item) for item in value}))

    def dump(self, value: tuple[Slot, ...]) -> list[str]:
        return [str(slot) for slot in value]


@dataclass(frozen=True)
class TimeOfDay:
    """One "HH:MM" time of day (a Slot in code)."""

    label = '"HH:MM"'

    def parse(self, value: Any, base: Path) -> Slot:
        return _time_of_day(value)

    def dump(self, value: Slot) -> str:
        return str(value)


@dataclass(frozen=True)
class IsoDate:
    """A calendar date: TOML's own (`2026-11-03`) or the same in quotes (a date in code)."""

    label = "date, e.g. `2026-11-03`"

    def parse(self, value: Any, base: Path) -> date:
        if isinstance(value, datetime):  # a TOML date-time is a date too: say what is wrong
            raise Invalid("expected a date without a time, e.g. 2026-11-03")
        if isinstance(value, date):
            return value
        if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            try:
                return date.fromisoformat(value)
            except ValueError:
                raise Invalid("not a date in the calendar") from None
        raise Invalid("expected a date, e.g. 2026-11-03")

    def dump(self, value: date) -> str:
        return value.isoformat()


LOCAL_DATETIME_PATTERN = r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}"


def parse_local_datetime(value: Any) -> datetime:
    """`2026-12-12T18:00` (or TOML's own local date-time, or a space for the T): a wall-clock
    time without a zone, read in the configured time zone by whoever uses it. Seconds are
    dropped: people plan outages to the minute."""
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(second=0, microsecond=0)
    if isinstance(value, str) and re.fullmatch(LOCAL_DATETIME_PATTERN, value.strip()):
        try:
            return datetime.fromisoformat(value.strip().replace(" ", "T"))
        except ValueError:
            raise Invalid("not a time in the calendar") from None
    raise Invalid("expected a local date and time without a zone, e.g. 2026-12-12T18:00")


@dataclass(frozen=True)
class LocalDateTime:
    """A local date and time to the minute (a naive datetime in code): `parse_local_datetime`."""

    label = "local date and time, e.g. `2026-12-12T18:00`"

    def parse(self, value: Any, base: Path) -> datetime:
        return parse_local_datetime(value)

    def dump(self, value: datetime) -> str:
        return f"{value:%Y-%m-%dT%H:%M}"


PHONE_CHARACTERS = "0123456789 +-()"
PHONE_MIN_DIGITS = 6
PHONE_MAX_LENGTH = 30


@dataclass(frozen=True)
class PhoneNumber:
    """A phone number as people write it ("0456-123 45", "+46 70 123 45 67"): digits,
    spaces, `+`, `-` and parentheses, at least 6 digits, kept as written."""

    label = "phone number"

    def parse(self, value: Any, base: Path) -> str:
        if not isinstance(value, str) or not value.strip():
            raise Invalid("expected a phone number in quotes, e.g. \"0456-123 45\"")
        wrong = sorted({c for c in value if c not in PHONE_CHARACTERS}, key=value.index)
        if wrong:
            dashes = " (write - for a dash)" if any(c in "\u2010\u2011\u2012\u2013\u2014\u2212"
                                                    for c in wrong) else ""
            raise Invalid("only digits, spaces, +, - and parentheses, not "
                          + " ".join(repr(c) for c in wrong) + dashes)
        if sum(c.isdigit() for c in value) < PHONE_MIN_DIGITS:
            raise Invalid(f"at least {PHONE_MIN_DIGITS} digits")
        if len(value) > PHONE_MAX_LENGTH:
            raise Invalid(f"at most {PHONE_MAX_LENGTH} characters")
        return value.strip()

    def dump(self, value: str) -> str:
        return value


@dataclass(frozen=True)
class TableOfText:
    """A TOML table whose values are all text, e.g. CUPS job options (a dict in code)."""

    label = "table of text"

    def parse(self, value: Any, base: Path) -> dict[str, str]:
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise Invalid("expected a table of text values")
        return dict(value)

    def dump(self, value: dict[str, str]) -> dict[str, str]:
        return dict(value)


# ---------------------------------------------------------------- declarations


@dataclass(frozen=True)
class Setting:
    """One key: where it is, what it may be, its default (as written in a file) and its doc."""

    key: str
    type: Any
    default: Any  # as in the file; REQUIRED; or a function giving it (the host name)
    doc: str  # one line for docs/configuration.md
    must: str  # the start of an error: "must be a TCP port"
    default_doc: str | None = None  # the docs' Default column, when the value is not fixed
    secret: bool = False  # `config show` says whether it is set, never the value
    formerly: tuple[str, ...] = ()  # old key paths: an error tells to use the new one
    # False: the old keys meant something else, so the error asks for a value chosen anew.
    same_meaning: bool = True

    def successor_note(self) -> str:
        """What a config error says about one of the `formerly` keys."""
        if self.same_meaning:
            return f"renamed to {self.key}; use the new name (the meaning is the same)"
        return (f"replaced by {self.key}, which means something else; choose its value anew "
                "(docs/configuration.md)")

    def default_value(self) -> Any:
        default = self.default() if callable(self.default) else self.default
        return self.type.parse(default, Path("/"))

    def read(self, scope: Mapping, where: str, base: Path, problems: list[str]) -> Any:
        path = join(where, self.key)
        value = dig(scope, self.key)
        if value is _MISSING:
            if self.default is REQUIRED:
                problems.append(f"{path}: {self.must}, but it is missing")
                return None
            return self.default_value()
        try:
            return self.type.parse(value, base)
        except Invalid as exc:
            problems.append(f"{path}: {self.must}, got {value!r} ({exc})")
            return None if self.default is REQUIRED else self.default_value()


@dataclass(frozen=True)
class Group:
    """A nested dataclass of settings (`panel: PanelConfig`); its keys are full paths."""

    cls: type

    def read(self, scope: Mapping, where: str, base: Path, problems: list[str]) -> Any:
        return read_dataclass(self.cls, scope, where, base, problems)


@dataclass(frozen=True)
class TableOf:
    """`[key.NAME]` tables, each an `entry` dataclass, merged over built-in entries."""

    key: str
    entry: type  # its settings' keys are relative to the entry; a `name` field gets NAME
    doc: str
    name_pattern: str
    name_rule: str
    builtins: Mapping[str, Mapping[str, Any]]
    new_entry: Callable[[str], Mapping[str, Any]]  # the defaults of an entry not built in

    def read(self, scope: Mapping, where: str, base: Path, problems: list[str]) -> dict:
        path = join(where, self.key)
        table = dig(scope, self.key)
        if table is _MISSING:
            table = {}
        elif not isinstance(table, dict):
            problems.append(f"{path}: must be a table of [{path}.NAME] sections")
            return {}
        entries = {}
        for name in [*self.builtins, *(n for n in table if n not in self.builtins)]:
            here = f"{path}.{name}"
            given = table.get(name, {})
            if name not in self.builtins and not re.fullmatch(self.name_pattern, name):
                problems.append(f"{here}: {self.name_rule}")
                continue
            if not isinstance(given, dict):
                problems.append(f"{here}: must be a table with {_and(entry_keys(self.entry))}")
                continue
            check_unknown(given, dict.fromkeys(entry_keys(self.entry)), here, {}, problems)
            merged = {**(self.builtins.get(name) or self.new_entry(name)), **given}
            entries[name] = read_dataclass(self.entry, merged, here, base, problems, name=name)
        return entries

    def default_value(self) -> dict:
        return self.read({}, "", Path("/"), [])


@dataclass(frozen=True)
class ListOf:
    """`[[key]]` tables, each an `entry` dataclass, in file order."""

    key: str
    entry: type
    doc: str

    def read(self, scope: Mapping, where: str, base: Path, problems: list[str]) -> tuple:
        path = join(where, self.key)
        items = dig(scope, self.key)
        if items is _MISSING:
            return ()
        if not isinstance(items, list):
            problems.append(f"{path}: must be [[{path}]] tables, got {items!r}")
            return ()
        entries = []
        for number, item in enumerate(items, start=1):
            here = f"{path}[{number}]"
            if not isinstance(item, dict):
                problems.append(f"{here}: must be a table with {_and(entry_keys(self.entry))}")
                continue
            check_unknown(item, dict.fromkeys(entry_keys(self.entry)), here, {}, problems)
            entries.append(read_dataclass(self.entry, item, here, base, problems))
        return tuple(entries)


@dataclass(frozen=True)
class SubTable:
    """`[key]`: one table of an `entry` dataclass's settings, or nothing (None in code) when
    the file has no such table. Several may share an entry type (`[contacts.cosafe]`,
    `[contacts.it_support]`): docs/configuration.md then lists its keys once, under
    `doc_title`."""

    key: str
    entry: type
    doc: str
    doc_title: str  # the heading of the entry's keys in the docs, e.g. `[contacts.ROLE]`
    aliases: tuple[str, ...] = ()  # names people may write instead (`ec`): the error says

    def read(self, scope: Mapping, where: str, base: Path, problems: list[str]) -> Any:
        here = join(where, self.key)
        table = dig(scope, self.key)
        if table is _MISSING:
            return None
        if not isinstance(table, dict):
            problems.append(f"{here}: must be a table ([{here}]) with "
                            f"{_and(entry_keys(self.entry))}, got {table!r}")
            return None
        check_unknown(table, dict.fromkeys(entry_keys(self.entry)), here, {}, problems)
        return read_dataclass(self.entry, table, here, base, problems)


def setting(key: str, type: Any, default: Any, doc: str, *, must: str,
            default_doc: str | None = None, secret: bool = False,
            formerly: tuple[str, ...] = (), same_meaning: bool = True) -> Any:
    """A dataclass field declaring one setting (see `Setting`)."""
    node = Setting(key, type, default, doc, must, default_doc, secret, formerly, same_meaning)
    metadata = {_NODE: node}
    if default is REQUIRED:
        return dataclasses.field(metadata=metadata)
    if not callable(default):
        node.default_value()  # a wrong default fails at import, not in the field
    return dataclasses.field(default_factory=node.default_value, metadata=metadata)


def group(cls: type) -> Any:
    return dataclasses.field(default_factory=cls, metadata={_NODE: Group(cls)})


def table_of(key: str, entry: type, doc: str, *, name_pattern: str, name_rule: str,
             builtins: Mapping[str, Mapping[str, Any]],
             new_entry: Callable[[str], Mapping[str, Any]]) -> Any:
    node = TableOf(key, entry, doc, name_pattern, name_rule, builtins, new_entry)
    return dataclasses.field(default_factory=node.default_value, metadata={_NODE: node})


def list_of(key: str, entry: type, doc: str) -> Any:
    return dataclasses.field(default=(), metadata={_NODE: ListOf(key, entry, doc)})


def sub_table(key: str, entry: type, doc: str, *, doc_title: str | None = None,
              aliases: tuple[str, ...] = ()) -> Any:
    node = SubTable(key, entry, doc, doc_title or f"[{key}]", aliases)
    return dataclasses.field(default=None, metadata={_NODE: node})


def nodes(cls: type) -> Iterator[tuple[dataclasses.Field, Any]]:
    """The declared fields of a config dataclass, in order, with their declarations."""
    for f in dataclasses.fields(cls):
        if _NODE in f.metadata:
            yield f, f.metadata[_NODE]


def entry_keys(cls: type) -> list[str]:
    return [node.key for _, node in nodes(cls)]


# ---------------------------------------------------------------- loading


def load(cls: type, path: Path | str,
         checks: Sequence[Callable[[Any, dict], list[str]]] = ()) -> Any:
    """Read, validate and build the config dataclass `cls` from the TOML file at `path`.

    `checks` see the built config and the raw file and return problems that involve more
    than one key (a profile naming an unknown kind). All problems raise one ConfigError.
    """
    path = Path(path).resolve()
    data = read_toml(path)
    problems: list[str] = []
    config = read_dataclass(cls, data, "", path.parent, problems, source=path)
    for check in checks:
        problems += check(config, data)
    renamed = {old: node.successor_note() for node in walk_settings(cls)
               for old in node.formerly}
    renamed |= {f"{node.key.rpartition('.')[0]}.{alias}".lstrip("."):
                f"unknown key: write [{node.key}] ({node.doc.rstrip('.')})"
                for node in walk_nodes(cls) if isinstance(node, SubTable) for alias in node.aliases}
    check_unknown(data, known_keys(cls), "", renamed, problems)
    if problems:
        raise ConfigError(path, problems)
    return config


def read_dataclass(cls: type, scope: Mapping, where: str, base: Path, problems: list[str],
                   **fixed: Any) -> Any:
    """Build `cls` from its settings in `scope`, adding each refused value to `problems`.

    A field that is no setting gets its value from `fixed` when given (`source`, `name`).
    """
    names_wanted = {f.name for f in dataclasses.fields(cls)}
    values = {key: value for key, value in fixed.items() if key in names_wanted}
    for f, node in nodes(cls):
        values[f.name] = node.read(scope, where, base, problems)
    return cls(**values)


def read_toml(path: Path) -> dict[str, Any]:
    try:
        # utf-8-sig: Notepad's byte-order mark is not a TOML error worth a technician's time
        return tomllib.loads(path.read_bytes().decode("utf-8-sig"))
    except FileNotFoundError as exc:
        raise ConfigError(path, ["file not found (run `init --dir DIR` to create one, or pass "
                                 "--config)"]) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, [f"not valid TOML: {exc}"]) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(path, [f"not UTF-8 (byte {exc.start}): save the file as UTF-8"]) from exc
    except OSError as exc:
        raise ConfigError(path, [f"cannot read: {exc.strerror}"]) from exc


def dig(scope: Mapping, key: str) -> Any:
    """The value at dotted `key` in `scope`, or _MISSING (also when a level is no table)."""
    value: Any = scope
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            return _MISSING
        value = value[part]
    return value


def join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def walk_settings(cls: type) -> Iterator[Setting]:
    """Every Setting of `cls` and its groups (not inside table or list entries)."""
    for node in walk_nodes(cls):
        if isinstance(node, Setting):
            yield node


def walk_nodes(cls: type) -> Iterator[Any]:
    """Every declaration of `cls` and its groups, the groups themselves left out."""
    for _, node in nodes(cls):
        if isinstance(node, Group):
            yield from walk_nodes(node.cls)
        else:
            yield node


def known_keys(cls: type) -> dict[str, Any]:
    """The tree of known keys: a dict per section, a declaration at each leaf."""
    tree: dict[str, Any] = {}
    for _, node in nodes(cls):
        if isinstance(node, Group):
            _merge(tree, known_keys(node.cls))
            continue
        *sections, last = node.key.split(".")
        level = tree
        for section in sections:
            level = level.setdefault(section, {})
        level[last] = node
    return tree


def _merge(into: dict[str, Any], other: dict[str, Any]) -> None:
    for key, value in other.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def check_unknown(data: Mapping, tree: Mapping[str, Any], where: str,
                  renamed: Mapping[str, str], problems: list[str]) -> None:
    """Report keys and sections of `data` that `tree` does not know, suggesting a close one;
    `renamed` maps old key paths to what became of them."""
    for key, value in data.items():
        path = join(where, key)
        if path in renamed:
            problems.append(f"{path}: {renamed[path]}")
        elif key not in tree:
            what = "key" if where else "section"
            problems.append(f"{path}: unknown {what}{_suggest(key, tree)}")
        elif isinstance(tree[key], dict):
            if isinstance(value, dict):
                check_unknown(value, tree[key], path, renamed, problems)
            else:
                problems.append(f"{path}: must be a table ([{path}])")


def _suggest(word: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(candidates), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _and(words: list[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


# ---------------------------------------------------------------- showing


def settings_in_force(config: Any, where: str = "") -> Iterator[str]:
    """`config show`: one `key.path = value` line per setting, as TOML; secrets withheld.

    Every line but a withheld secret's is valid TOML, so the output loads as a config file
    with the same settings.
    """
    for f, node in nodes(type(config)):
        value = getattr(config, f.name)
        if isinstance(node, Group):
            yield from settings_in_force(value, where)
        elif isinstance(node, TableOf):
            for name, entry in value.items():
                yield from settings_in_force(entry, f"{join(where, node.key)}.{toml_key(name)}")
        elif isinstance(node, ListOf):
            tables = [dict(_dumped(entry)) for entry in value]
            yield f"{join(where, node.key)} = {toml_value(tables)}"
        elif isinstance(node, SubTable):
            if value is not None:  # no table in the file: none shown, none read back
                yield from settings_in_force(value, join(where, node.key))
        elif node.secret and value:
            yield f"# {join(where, node.key)}: set (secret, not shown)"
        else:
            yield f"{join(where, node.key)} = {toml_value(node.type.dump(value))}"


def _dumped(entry: Any) -> Iterator[tuple[str, Any]]:
    for f, node in nodes(type(entry)):
        yield node.key, node.type.dump(getattr(entry, f.name))


def toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key, ensure_ascii=False)


def toml_value(value: Any) -> str:
    """A TOML literal; JSON's string escapes are a subset of TOML's basic strings."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        if not value:
            return "{}"
        return "{ " + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()) \
            + " }"
    raise TypeError(f"no TOML form for {type(value).__name__}")
