"""Typed, validated settings for the appliance and the sender, read from TOML.

Every problem is reported at once, one line each, naming the key path, what it must be,
the value found and why it is wrong, e.g.
`web.port: must be a TCP port, got 'x' (expected an integer)`.
Relative paths are resolved against the config file's folder, so a whole installation can
live in one folder (tests, the demo) or spread over /etc and /var/lib (production).
"""

from __future__ import annotations

import difflib
import os
import re
import socket
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from appliance.core import keys

APPLIANCE_CONFIG_ENV = "APPLIANCE_CONFIG"
SENDER_CONFIG_ENV = "APPLIANCE_SENDER_CONFIG"
DEFAULT_APPLIANCE_CONFIG = Path("/etc/appliance/appliance.toml")
DEFAULT_SENDER_CONFIG = Path("/etc/appliance/sender.toml")
MIB = 1024 * 1024

DEFAULT_KINDS: dict[str, dict[str, Any]] = {
    "todo": {"title": "Att göra-lista", "slots": ["07:00", "14:30"]},
    "medications": {"title": "Läkemedelslista", "slots": []},
    "occupancy": {"title": "Beläggningslista", "slots": []},
    "relatives": {"title": "Anhöriglista", "slots": []},
    "careplan": {"title": "Vårdplan", "slots": []},
    "other": {"title": "Övrigt", "slots": []},
}


class ConfigError(Exception):
    """One or more problems in a config file; `problems` holds one line per key."""

    def __init__(self, source: Path | str, problems: list[str]) -> None:
        self.source = str(source)
        self.problems = problems
        super().__init__(
            f"{self.source}: {len(problems)} problem(s) in the configuration:\n"
            + "\n".join(f"  {problem}" for problem in problems)
        )


@dataclass(frozen=True, order=True)
class Slot:
    hour: int
    minute: int

    def __str__(self) -> str:
        return f"{self.hour:02d}:{self.minute:02d}"


@dataclass(frozen=True)
class KindConfig:
    name: str
    title: str  # Swedish, shown to nurses
    slots: tuple[Slot, ...]  # expected arrival times, local time


@dataclass(frozen=True)
class ProfileConfig:
    """What one kind of print contains: document kinds (`*` = all) and the blank forms."""

    name: str
    title: str  # Swedish, printed on the cover
    kinds: tuple[str, ...]
    forms: bool

    def includes(self, kind: str) -> bool:
        return "*" in self.kinds or kind in self.kinds


DEFAULT_PROFILES: dict[str, dict[str, Any]] = {
    "button": {"title": "Knappen: att göra-listor och blanketter", "kinds": ["todo"],
               "forms": True},
    "full": {"title": "Allt: alla listor och blanketter", "kinds": ["*"], "forms": True},
    "forms": {"title": "Endast blanketter", "kinds": [], "forms": True},
}
DEFAULT_FORMS = ("dokumentation", "avvikelse")


@dataclass(frozen=True)
class PrintingConfig:
    queue: str | None = None  # None: the CUPS default destination
    job_timeout_seconds: int = 600
    forms: tuple[str, ...] = DEFAULT_FORMS  # templates/print/form-NAME.txt.j2
    options: dict[str, str] = field(default_factory=dict)  # CUPS job options
    profiles: dict[str, ProfileConfig] = field(default_factory=dict)


@dataclass(frozen=True)
class PanelConfig:
    """The physical button and status LED (`appliance panel`)."""

    pin_factory: str | None = None  # gpiozero pin factory; None: GPIOZERO_PIN_FACTORY/auto
    button_pin: int = 17
    pull_up: bool = True  # button wired between the pin and ground
    bounce_seconds: float = 0.05
    hold_seconds: float = 2.0  # a press this long prints the `full` profile
    repeat_guard_seconds: float = 15.0  # presses this soon after a kit started are ignored
    led: str = "rgb"  # rgb (red, green, blue pins), two (red, green) or single
    led_pins: tuple[int, ...] = (22, 23, 24)
    led_active_high: bool = True
    poll_seconds: float = 1.0  # how often state is recomputed; LED changes within 2 s


@dataclass(frozen=True)
class AlertsConfig:
    webhook_url: str | None = None  # JSON POST on missed slots and recoveries
    timeout_seconds: int = 10


@dataclass(frozen=True)
class ApplianceConfig:
    source: Path
    name: str
    state_dir: Path
    senders_dir: Path
    kem: keys.KemSuite
    web_host: str
    web_port: int
    web_workers: int
    web_timeout_seconds: int
    max_snapshot_bytes: int
    free_space_reserve_bytes: int
    keep_per_kind: int
    max_age_days: int
    timezone: ZoneInfo
    grace_minutes: int
    kinds: dict[str, KindConfig] = field(default_factory=dict)
    printing: PrintingConfig = field(default_factory=lambda: PrintingConfig())
    panel: PanelConfig = field(default_factory=PanelConfig)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)

    @property
    def keys_dir(self) -> Path:
        return self.state_dir / "keys"

    @property
    def private_key_path(self) -> Path:
        return self.keys_dir / "appliance.key"

    @property
    def public_key_path(self) -> Path:
        return self.keys_dir / "appliance.pub"


@dataclass(frozen=True)
class OutboxRule:
    """Export files whose name matches `glob` are documents of `kind`."""

    glob: str
    kind: str
    unit: str | None = None  # default: sender.unit
    title: str | None = None  # default: the kind's Swedish title


@dataclass(frozen=True)
class OutboxConfig:
    dir: Path | None = None  # None: no outbox watching (push by hand only)
    stable_seconds: float = 5.0  # unchanged this long = completely written
    poll_seconds: float = 2.0
    after_delivery: str = "keep"  # or "delete" once every appliance accepted it
    rules: tuple[OutboxRule, ...] = ()


@dataclass(frozen=True)
class ScheduleConfig:
    """When exports are expected on this PC (missing-export warnings)."""

    slots: tuple[Slot, ...] = (Slot(7, 0), Slot(14, 30))
    grace_minutes: int = 30
    required_kinds: tuple[str, ...] = ("todo",)
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Europe/Stockholm"))


@dataclass(frozen=True)
class SenderAlertsConfig:
    webhook_url: str | None = None
    undelivered_warn_minutes: int = 60  # `status` exits non-zero past this


@dataclass(frozen=True)
class SenderConfig:
    source: Path
    name: str
    state_dir: Path
    appliances_dir: Path
    unit: str  # default organisational unit written into each document's manifest entry
    push_timeout_seconds: int
    retry_initial_seconds: float = 30.0
    retry_max_seconds: float = 1800.0
    outbox: OutboxConfig = field(default_factory=OutboxConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    alerts: SenderAlertsConfig = field(default_factory=SenderAlertsConfig)

    @property
    def private_key_path(self) -> Path:
        return self.state_dir / "keys" / "sender.key"

    @property
    def public_key_path(self) -> Path:
        return self.state_dir / "keys" / "sender.pub"


# ---------------------------------------------------------------- schema machinery


class _Reader:
    """Reads typed values from a parsed TOML table, collecting problems instead of raising."""

    def __init__(self, data: dict[str, Any], base: Path) -> None:
        self.data = data
        self.base = base
        self.problems: list[str] = []
        self.known: dict[str, set[str]] = {}

    def get(self, section: str, key: str, default: Any, check: Callable[[Any], str | None],
            describe: str) -> Any:
        self.known.setdefault(section, set()).add(key)
        table = self.data.get(section, {})
        if not isinstance(table, dict):
            return default
        if key not in table:
            return default
        value = table[key]
        problem = check(value)
        if problem:
            self.problems.append(f"{section}.{key}: {describe}, got {value!r} ({problem})")
            return default
        return value

    def path(self, section: str, key: str, default: str) -> Path:
        text = self.get(section, key, default, _nonempty_str, "must be a path")
        path = Path(os.path.expandvars(text)).expanduser()
        return path if path.is_absolute() else (self.base / path)

    def check_unknown(self, extra_sections: set[str]) -> None:
        for section, table in self.data.items():
            if section in extra_sections:
                continue
            if section not in self.known:
                candidates = [*self.known, *extra_sections]
                self.problems.append(f"{section}: unknown section{_suggest(section, candidates)}")
                continue
            if not isinstance(table, dict):
                self.problems.append(f"{section}: must be a table ([{section}])")
                continue
            for key in table:
                if key not in self.known[section]:
                    self.problems.append(
                        f"{section}.{key}: unknown key{_suggest(key, self.known[section])}"
                    )


def _suggest(word: str, candidates) -> str:
    close = difflib.get_close_matches(word, list(candidates), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _nonempty_str(value: Any) -> str | None:
    return None if isinstance(value, str) and value.strip() else "expected non-empty text"


def _int_range(low: int, high: int) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int):
            return "expected an integer"
        return None if low <= value <= high else f"expected {low}..{high}"

    return check


def _number_range(low: float, high: float) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return "expected a number"
        return None if low <= value <= high else f"expected {low}..{high}"

    return check


def _bool(value: Any) -> str | None:
    return None if isinstance(value, bool) else "expected true or false"


def _optional_url(value: Any) -> str | None:
    if not isinstance(value, str):
        return "expected text"
    return None if value == "" or re.match(r"https?://[^/\s]+", value) else \
        "expected an http:// or https:// URL, or empty"


def _slot_list(value: Any) -> str | None:
    if isinstance(value, list) and all(isinstance(s, str) and _SLOT.fullmatch(s)
                                       for s in value):
        return None
    return 'expected a list of "HH:MM" times'


def _parse_slots(slots: list[str]) -> tuple[Slot, ...]:
    return tuple(sorted({Slot(int(s[:2]), int(s[3:])) for s in slots}))


def _one_of(choices) -> Callable[[Any], str | None]:
    return lambda value: None if value in choices else f"expected one of {', '.join(choices)}"


def _read_toml(path: Path) -> dict[str, Any]:
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


def resolve_path(explicit: str | Path | None, env_var: str, default: Path) -> Path:
    """--config wins, then the environment variable, then the packaged default path."""
    if explicit:
        return Path(explicit)
    if os.environ.get(env_var):
        return Path(os.environ[env_var])
    return default


# ---------------------------------------------------------------- appliance


_SLOT = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")


def load_appliance_config(path: Path | str) -> ApplianceConfig:
    path = Path(path).resolve()
    data = _read_toml(path)
    r = _Reader(data, path.parent)
    name = r.get("appliance", "name", socket.gethostname(), _nonempty_str, "must be text")
    state_dir = r.path("appliance", "state_dir", "/var/lib/appliance")
    senders_dir = r.path("appliance", "senders_dir", "/etc/appliance/senders")
    kem_name = r.get("keys", "kem", keys.MLKEM768_X25519.name, _one_of(list(keys.KEM_SUITES)),
                     "must name the KEM for the appliance key")
    host = r.get("web", "host", "0.0.0.0", _nonempty_str, "must be an address to listen on")
    port = r.get("web", "port", 8080, _int_range(1, 65535), "must be a TCP port")
    workers = r.get("web", "workers", 2, _int_range(1, 16), "must be a number of processes")
    timeout = r.get("web", "timeout_seconds", 120, _int_range(5, 3600),
                    "must be seconds a request may take")
    max_mb = r.get("web", "max_snapshot_mb", 64, _int_range(1, 1024),
                   "must be the largest snapshot accepted, in MiB")
    reserve_mb = r.get("storage", "free_space_reserve_mb", 200, _int_range(0, 10**6),
                       "must be the free disk space (MiB) to keep")
    keep = r.get("retention", "keep_per_kind", 14, _int_range(1, 10_000),
                 "must be how many documents to keep per sender, unit and kind")
    max_age = r.get("retention", "max_age_days", 30, _int_range(1, 3650),
                    "must be a number of days")
    tz_name = r.get("freshness", "timezone", "Europe/Stockholm", _valid_timezone,
                    "must be an IANA time zone such as Europe/Stockholm")
    grace = r.get("freshness", "grace_minutes", 30, _int_range(0, 24 * 60),
                  "must be minutes after a slot before a kind counts as stale")
    kinds = _read_kinds(data.get("kinds", {}), r.problems)
    kind_table = data.get("kinds", {})
    named_kinds = set(DEFAULT_KINDS) | set(kind_table if isinstance(kind_table, dict) else ())
    printing = _read_printing(r, data.get("profiles", {}), named_kinds)
    panel = _read_panel(r)
    alerts = AlertsConfig(
        webhook_url=r.get("alerts", "webhook_url", "", _optional_url,
                          "must be where missed-slot alerts are POSTed") or None,
        timeout_seconds=r.get("alerts", "timeout_seconds", 10, _int_range(1, 300),
                              "must be seconds to wait for the webhook"),
    )
    r.check_unknown(extra_sections={"kinds", "profiles"})
    if r.problems:
        raise ConfigError(path, r.problems)
    return ApplianceConfig(
        source=path, name=name, state_dir=state_dir, senders_dir=senders_dir,
        kem=keys.KEM_SUITES[kem_name], web_host=host, web_port=port, web_workers=workers,
        web_timeout_seconds=timeout, max_snapshot_bytes=max_mb * MIB,
        free_space_reserve_bytes=reserve_mb * MIB, keep_per_kind=keep, max_age_days=max_age,
        timezone=ZoneInfo(tz_name), grace_minutes=grace, kinds=kinds, printing=printing,
        panel=panel, alerts=alerts,
    )


def _valid_timezone(value: Any) -> str | None:
    if not isinstance(value, str):
        return "expected text"
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return "unknown time zone"
    return None


def _read_kinds(table: Any, problems: list[str]) -> dict[str, KindConfig]:
    """Built-in kinds, overridden or extended by [kinds.NAME] tables."""
    merged = {name: dict(spec) for name, spec in DEFAULT_KINDS.items()}
    if not isinstance(table, dict):
        problems.append("kinds: must be a table of [kinds.NAME] sections")
        return {}
    for name, spec in table.items():
        where = f"kinds.{name}"
        if not re.fullmatch(r"[a-z][a-z0-9_-]{0,31}", name):
            problems.append(f"{where}: kind names are lowercase a-z, 0-9, _ or -, max 32")
            continue
        if not isinstance(spec, dict):
            problems.append(f"{where}: must be a table with title and slots")
            continue
        for key in spec.keys() - {"title", "slots"}:
            problems.append(f"{where}.{key}: unknown key{_suggest(key, ['title', 'slots'])}")
        merged.setdefault(name, {"title": name, "slots": []}).update(
            {k: v for k, v in spec.items() if k in ("title", "slots")})
    kinds = {}
    for name, spec in merged.items():
        title, slots = spec["title"], spec["slots"]
        if _nonempty_str(title):
            problems.append(f"kinds.{name}.title: must be the Swedish title, got {title!r}")
            continue
        if not isinstance(slots, list) or not all(
                isinstance(s, str) and _SLOT.fullmatch(s) for s in slots):
            problems.append(f"kinds.{name}.slots: must be a list of \"HH:MM\" times, "
                            f"got {slots!r}")
            continue
        kinds[name] = KindConfig(name, title, _parse_slots(slots))
    return kinds


LED_WIRINGS = {"rgb": 3, "two": 2, "single": 1}  # wiring -> number of pins
PIN_FACTORIES = ("", "mock", "lgpio", "rpigpio", "pigpio", "native")


def _read_panel(r: _Reader) -> PanelConfig:
    default = PanelConfig()
    led = r.get("panel", "led", default.led, _one_of(list(LED_WIRINGS)),
                "must name the LED wiring")
    pins = r.get("panel", "led_pins", list(default.led_pins)[: LED_WIRINGS[led]],
                 lambda v: None if isinstance(v, list) and len(v) == LED_WIRINGS[led] and all(
                     isinstance(p, int) and not isinstance(p, bool) and 0 <= p <= 53 for p in v)
                 else f"expected {LED_WIRINGS[led]} GPIO number(s) for led = {led!r}",
                 "must list the LED's GPIO pins (BCM numbers)")
    factory = r.get("panel", "pin_factory", "", _one_of(PIN_FACTORIES),
                    "must name a gpiozero pin factory, or be empty for the default")
    return PanelConfig(
        pin_factory=factory or None,
        button_pin=r.get("panel", "button_pin", default.button_pin, _int_range(0, 53),
                         "must be the button's GPIO pin (BCM number)"),
        pull_up=r.get("panel", "pull_up", default.pull_up, _bool,
                      "must say whether the button pulls the pin to ground"),
        bounce_seconds=float(r.get("panel", "bounce_seconds", default.bounce_seconds,
                                   _number_range(0, 1), "must be seconds of debounce")),
        hold_seconds=float(r.get("panel", "hold_seconds", default.hold_seconds,
                                 _number_range(0.5, 30), "must be seconds of a long press")),
        repeat_guard_seconds=float(r.get(
            "panel", "repeat_guard_seconds", default.repeat_guard_seconds, _number_range(0, 600),
            "must be seconds after a kit during which presses are ignored")),
        led=led, led_pins=tuple(pins),
        led_active_high=r.get("panel", "led_active_high", default.led_active_high, _bool,
                              "must say whether a high pin lights the LED"),
        poll_seconds=float(r.get("panel", "poll_seconds", default.poll_seconds,
                                 _number_range(0.1, 2), "must be seconds between checks")),
    )


_FORM_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")


def _read_printing(r: _Reader, profiles_table: Any, kinds: set[str]) -> PrintingConfig:
    queue = r.get("printing", "queue", "", lambda v: None if isinstance(v, str) else
                  "expected text", "must name a CUPS queue, or be empty for the default")
    timeout = r.get("printing", "job_timeout_seconds", 600, _int_range(10, 24 * 3600),
                    "must be seconds `print --wait` waits for a job")
    forms = r.get("printing", "forms", list(DEFAULT_FORMS),
                  lambda v: None if isinstance(v, list) and all(
                      isinstance(f, str) and _FORM_NAME.fullmatch(f) for f in v)
                  else "expected a list of form names", "must list blank forms to print")
    options = r.get("printing", "options", {},
                    lambda v: None if isinstance(v, dict) and all(
                        isinstance(x, str) for x in v.values()) else "expected text values",
                    "must be a table of CUPS job options")
    return PrintingConfig(queue=queue or None, job_timeout_seconds=timeout, forms=tuple(forms),
                          options=dict(options),
                          profiles=_read_profiles(profiles_table, kinds, r.problems))


def _read_profiles(table: Any, kinds: set[str], problems: list[str]
                   ) -> dict[str, ProfileConfig]:
    """`kinds` holds every kind named in the file, valid or not: a broken [kinds.X] is
    reported once, there, and not again by each profile that names X."""
    merged = {name: dict(spec) for name, spec in DEFAULT_PROFILES.items()}
    if not isinstance(table, dict):
        problems.append("profiles: must be a table of [profiles.NAME] sections")
        return {}
    for name, spec in table.items():
        if not isinstance(spec, dict):
            problems.append(f"profiles.{name}: must be a table with title, kinds and forms")
            continue
        for key in spec.keys() - {"title", "kinds", "forms"}:
            problems.append(f"profiles.{name}.{key}: unknown key"
                            f"{_suggest(key, ['title', 'kinds', 'forms'])}")
        merged.setdefault(name, {"title": name, "kinds": [], "forms": True}).update(
            {k: v for k, v in spec.items() if k in ("title", "kinds", "forms")})
    profiles = {}
    for name, spec in merged.items():
        where = f"profiles.{name}"
        wanted = spec["kinds"]
        if not isinstance(wanted, list) or not all(isinstance(k, str) for k in wanted):
            problems.append(f"{where}.kinds: must be a list of kinds or [\"*\"], got {wanted!r}")
            continue
        unknown = [k for k in wanted if k != "*" and k not in kinds]
        if unknown:
            problems.append(f"{where}.kinds: unknown kind(s) {', '.join(unknown)} "
                            f"(known: {', '.join(sorted(kinds))})")
            continue
        if not isinstance(spec["forms"], bool) or _nonempty_str(spec["title"]):
            problems.append(f"{where}: title must be text and forms true or false")
            continue
        profiles[name] = ProfileConfig(name, spec["title"], tuple(wanted), spec["forms"])
    return profiles


# ---------------------------------------------------------------- sender


def load_sender_config(path: Path | str) -> SenderConfig:
    path = Path(path).resolve()
    data = _read_toml(path)
    r = _Reader(data, path.parent)
    name = r.get("sender", "name", socket.gethostname(), _nonempty_str, "must be text")
    state_dir = r.path("sender", "state_dir", "/var/lib/appliance-sender")
    appliances_dir = r.path("sender", "appliances_dir", "/etc/appliance/appliances")
    unit = r.get("sender", "unit", "Hemsjukvård", _nonempty_str,
                 "must be the unit named on printed sheets")
    timeout = r.get("push", "timeout_seconds", 60, _int_range(1, 3600),
                    "must be seconds to wait for an appliance")
    retry_initial = r.get("push", "retry_initial_seconds", 30, _number_range(1, 3600),
                          "must be seconds before the first retry")
    retry_max = r.get("push", "retry_max_seconds", 1800, _number_range(1, 86400),
                      "must be the longest wait between retries, in seconds")
    outbox = _read_outbox(r)
    schedule = ScheduleConfig(
        slots=_parse_slots(r.get("schedule", "slots", ["07:00", "14:30"], _slot_list,
                                 "must list the times exports are expected")),
        grace_minutes=r.get("schedule", "grace_minutes", 30, _int_range(0, 24 * 60),
                            "must be minutes after a slot before an export is missing"),
        required_kinds=tuple(r.get("schedule", "required_kinds", ["todo"],
                                   lambda v: None if isinstance(v, list) and all(
                                       isinstance(k, str) for k in v) else "expected a list",
                                   "must list the kinds expected at every slot")),
        timezone=ZoneInfo(r.get("schedule", "timezone", "Europe/Stockholm", _valid_timezone,
                                "must be an IANA time zone such as Europe/Stockholm")),
    )
    alerts = SenderAlertsConfig(
        webhook_url=r.get("alerts", "webhook_url", "", _optional_url,
                          "must be where missing-export alerts are POSTed") or None,
        undelivered_warn_minutes=r.get("alerts", "undelivered_warn_minutes", 60,
                                       _int_range(1, 7 * 24 * 60),
                                       "must be minutes a file may wait undelivered"),
    )
    r.check_unknown(extra_sections=set())
    if r.problems:
        raise ConfigError(path, r.problems)
    return SenderConfig(source=path, name=name, state_dir=state_dir,
                        appliances_dir=appliances_dir, unit=unit, push_timeout_seconds=timeout,
                        retry_initial_seconds=float(retry_initial),
                        retry_max_seconds=float(retry_max), outbox=outbox, schedule=schedule,
                        alerts=alerts)


def _read_outbox(r: _Reader) -> OutboxConfig:
    directory = r.get("outbox", "dir", "", lambda v: None if isinstance(v, str) else
                      "expected text", "must be the folder exports land in, or empty")
    rules = r.get("outbox", "rules", [], _outbox_rules_problem,
                  "must be [[outbox.rules]] tables with glob and kind")
    return OutboxConfig(
        dir=r.path("outbox", "dir", directory) if directory else None,
        stable_seconds=float(r.get("outbox", "stable_seconds", 5, _number_range(0, 3600),
                                   "must be seconds a file must stay unchanged")),
        poll_seconds=float(r.get("outbox", "poll_seconds", 2, _number_range(0.1, 600),
                                 "must be seconds between looks at the outbox")),
        after_delivery=r.get("outbox", "after_delivery", "keep", _one_of(["keep", "delete"]),
                             "must say what happens to a delivered export"),
        rules=tuple(OutboxRule(glob=rule["glob"], kind=rule["kind"], unit=rule.get("unit"),
                               title=rule.get("title")) for rule in rules),
    )


def _outbox_rules_problem(value: Any) -> str | None:
    if not isinstance(value, list):
        return "expected [[outbox.rules]] tables"
    for number, rule in enumerate(value, start=1):
        if not isinstance(rule, dict):
            return f"rule {number} is not a table"
        extra = rule.keys() - {"glob", "kind", "unit", "title"}
        if extra:
            return f"rule {number} has unknown key(s) {', '.join(sorted(extra))}"
        for key in ("glob", "kind"):
            if _nonempty_str(rule.get(key)):
                return f"rule {number} needs {key}"
        if not re.fullmatch(r"[a-z][a-z0-9_-]{0,31}", rule["kind"]):
            return f"rule {number}: kind {rule['kind']!r} is not a valid kind name"
        for key in ("unit", "title"):
            if key in rule and _nonempty_str(rule[key]):
                return f"rule {number}: {key} must be non-empty text"
    return None
