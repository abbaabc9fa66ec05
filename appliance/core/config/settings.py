"""Typed, validated settings for the appliance and the sender, read from TOML.

Each setting is declared once, below, as a field of the frozen dataclass the rest of the
code uses: its key path in the file, its type, its default as written in a file, a one-line
doc and the start of its error message. Loading, validation, "did you mean", `config show`
and the tables in docs/configuration.md all come from these declarations
(appliance.core.config.schema, appliance.core.config.reference).

Every problem is reported at once, one line each, naming the key path, what it must be,
the value found and why it is wrong, e.g.
`web.port: must be a TCP port, got 'x' (expected an integer)`.
Relative paths are resolved against the config file's folder, so a whole installation can
live in one folder (tests, the demo) or spread over /etc and /var/lib (production).

To add a setting, add one field with `setting(...)` to the dataclass that should hold it;
to add a sub-table, a field with `table_of(...)` or `list_of(...)` and a dataclass for its
entries. Then run `python -m appliance.core.config.reference --write` (docs/configuration.md).
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from appliance.core.config.schema import (
    REQUIRED,
    Boolean,
    Choice,
    FilePath,
    Integer,
    IsoDate,
    ListOfIntegers,
    ListOfText,
    LocalDateTime,
    Networks,
    Number,
    OrEmpty,
    PhoneNumber,
    Slot,
    TableOfText,
    Text,
    TimeOfDay,
    Times,
    TimeZone,
    Url,
    group,
    list_of,
    load,
    names,
    setting,
    sub_table,
    table_of,
)
from appliance.core.config.schema import ConfigError as ConfigError
from appliance.core.crypto import keys

APPLIANCE_CONFIG_ENV = "APPLIANCE_CONFIG"
SENDER_CONFIG_ENV = "APPLIANCE_SENDER_CONFIG"
DEFAULT_APPLIANCE_CONFIG = Path("/etc/appliance/appliance.toml")
DEFAULT_SENDER_CONFIG = Path("/etc/appliance/sender.toml")
MIB = 1024 * 1024

NAME_PATTERN = r"[a-z][a-z0-9_-]{0,31}"  # kind, profile and form names
KIND_NAME_RULE = "kind names are lowercase a-z, 0-9, _ or -, max 32"
# A unit as senders write it in the manifest (seal.py: printable, 1-120 characters), without
# spaces at either end so that a `NAME.units` line means what it shows.
_UNIT_END, _UNIT_INNER = r"[^\s\x00-\x1f\x7f-\x9f]", r"[^\x00-\x1f\x7f-\x9f]"
UNIT_NAME_PATTERN = f"{_UNIT_END}(?:{_UNIT_INNER}{{0,118}}{_UNIT_END})?"
UNIT_NAME_RULE = "a unit name: 1-120 printable characters, no space at either end"
CREDENTIAL_NAME_PATTERN = r"[a-z][a-z0-9_-]{0,63}"
CREDENTIAL_NAME_RULE = "a credential name: lowercase a-z, 0-9, _ or -, max 64"

DEFAULT_KINDS: dict[str, dict[str, Any]] = {
    "todo": {"title": "Att göra-lista", "slots": ["07:00", "14:30"], "signoff": True},
    "medications": {"title": "Läkemedelslista", "slots": [], "signoff": False},
    "occupancy": {"title": "Beläggningslista", "slots": [], "signoff": False},
    "relatives": {"title": "Anhöriglista", "slots": [], "signoff": False},
    "careplan": {"title": "Vårdplan", "slots": [], "signoff": False},
    "other": {"title": "Övrigt", "slots": [], "signoff": False},
}
DEFAULT_PROFILES: dict[str, dict[str, Any]] = {
    "button": {"title": "Knappen: att göra-listor och blanketter", "kinds": ["todo"],
               "forms": True},
    "full": {"title": "Allt: alla listor och blanketter", "kinds": ["*"], "forms": True},
    "forms": {"title": "Endast blanketter", "kinds": [], "forms": True},
}
LED_WIRINGS = {"rgb": 3, "two": 2, "single": 1}  # wiring -> number of pins
DEFAULT_LED_PINS = (22, 23, 24)  # the first LED_WIRINGS[led] of them
TIMEZONE = "Europe/Stockholm"


# ---------------------------------------------------------------- appliance


# A job of ours that has been processing this long without progress means the printer is
# not taking it (the default of `printing.stalled_after_seconds`; see docs/printing.md).
STALLED_AFTER_SECONDS = 20


@dataclass(frozen=True)
class KindConfig:
    """A `[kinds.NAME]` table: a kind of document and when a new one is expected."""

    name: str
    title: str = setting(
        "title", Text(), REQUIRED, "Swedish title printed on the cover sheet and stamped on "
        "each page, and shown on the status page.", must="must be the Swedish title",
        default_doc="built-in title; for a new kind, `NAME` itself")
    slots: tuple[Slot, ...] = setting(
        "slots", Times(), REQUIRED, "Times of day (local time in `freshness.timezone`) by "
        "which a new export of this kind is expected. `[]`: never expected, never stale.",
        must='must be a list of "HH:MM" times',
        default_doc="built-in slots; for a new kind, `[]`")
    signoff: bool = setting(
        "signoff", Boolean(), False, 'Each printed page of this kind gets a field "Införd i '
        'journal: ____ sign." in its stamp band, for checking page by page that everything '
        "written on paper reached the journal; the cover counts those pages.",
        must="must say whether pages of this kind get a sign-off field",
        default_doc="built-in value; for a new kind, `false`")


@dataclass(frozen=True)
class ProfileConfig:
    """What one kind of print contains: document kinds (`*` = all) and the blank forms."""

    name: str
    title: str = setting(
        "title", Text(), REQUIRED, "Swedish title printed on the kit's cover.",
        must="must be the Swedish title", default_doc="built-in title; for a new profile, "
        "`NAME` itself")
    kinds: tuple[str, ...] = setting(
        "kinds", ListOfText(r".+", 'a kind name or "*"'), REQUIRED,
        'Kinds of document to print, or `["*"]` for all; each must be a configured kind.',
        must='must be a list of kinds or ["*"]', default_doc="built-in; for a new profile, `[]`")
    forms: bool = setting(
        "forms", Boolean(), REQUIRED, "Whether the blank forms (`printing.forms`) are added.",
        must="must say whether blank forms are printed", default_doc="`true`")

    def includes(self, kind: str) -> bool:
        return "*" in self.kinds or kind in self.kinds


@dataclass(frozen=True)
class PrintingConfig:
    queue: str | None = setting(
        "printing.queue", OrEmpty(Text()), "", "CUPS queue to print to; empty: the CUPS "
        "default destination (libcups' usual server, `CUPS_SERVER` honoured).",
        must="must name a CUPS queue, or be empty for the default")
    job_timeout_seconds: int = setting(
        "printing.job_timeout_seconds", Integer(10, 24 * 3600), 600,
        "How long `appliance print --wait` waits for the job to complete.",
        must="must be seconds `print --wait` waits for a job")
    stalled_after_seconds: int = setting(
        "printing.stalled_after_seconds", Integer(3, 3600), STALLED_AFTER_SECONDS,
        "A job of ours processing this long without progress makes the printer `unreachable` "
        "(see printing.md, the stall rule).",
        must="must be seconds after which a job without progress is a fault")
    forms: tuple[str, ...] = setting(
        "printing.forms", ListOfText(NAME_PATTERN, "a form name"), ["dokumentation", "avvikelse"],
        "Blank forms at the end of each kit: `templates/print/form-NAME.txt.j2`.",
        must="must list blank forms to print")
    options: dict[str, str] = setting(
        "printing.options", TableOfText(), {}, "CUPS job options, e.g. "
        '`[printing.options]` `sides = "two-sided-long-edge"`.',
        must="must be a table of CUPS job options")
    profiles: dict[str, ProfileConfig] = table_of(
        "profiles", ProfileConfig, "What `appliance print --profile NAME` and the button print.",
        name_pattern=NAME_PATTERN, name_rule="profile names are lowercase a-z, 0-9, _ or -, "
        "max 32", builtins=DEFAULT_PROFILES,
        new_entry=lambda name: {"title": name, "kinds": [], "forms": True})


@dataclass(frozen=True)
class PanelConfig:
    """The physical button and status LED (`appliance panel`)."""

    pin_factory: str | None = setting(
        "panel.pin_factory", OrEmpty(Choice(names("mock", "lgpio", "rpigpio", "pigpio",
                                                  "native"))), "",
        "gpiozero pin factory; empty: `GPIOZERO_PIN_FACTORY`, else lgpio, rpigpio, pigpio, native.",
        must="must name a gpiozero pin factory, or be empty for the default")
    button_pin: int = setting(
        "panel.button_pin", Integer(0, 53), 17, "Button GPIO (BCM number).",
        must="must be the button's GPIO pin (BCM number)")
    pull_up: bool = setting(
        "panel.pull_up", Boolean(), True, "Button wired between the pin and ground "
        "(pressed = low).", must="must say whether the button pulls the pin to ground")
    bounce_seconds: float = setting(
        "panel.bounce_seconds", Number(0, 1), 0.05, "Debounce time.",
        must="must be seconds of debounce")
    hold_seconds: float = setting(
        "panel.hold_seconds", Number(0.5, 30), 2.0, "A press this long prints profile `full`.",
        must="must be seconds of a long press")
    repeat_guard_seconds: float = setting(
        "panel.repeat_guard_seconds", Number(0, 600), 15.0, "Presses this soon after a kit "
        "started are acknowledged and ignored.",
        must="must be seconds after a kit during which presses are ignored")
    led: str = setting(
        "panel.led", Choice(names(*LED_WIRINGS)), "rgb", "LED wiring: `rgb` (red, green, blue "
        "pins), `two` (red, green) or `single`.", must="must name the LED wiring")
    led_pins: tuple[int, ...] = setting(
        "panel.led_pins", OrEmpty(ListOfIntegers(0, 53)), "", "The LED's GPIO pins (BCM "
        "numbers), as many as the wiring needs (rgb 3, two 2, single 1).",
        must="must list the LED's GPIO pins (BCM numbers)",
        default_doc="`[22, 23, 24]`, as many as `led` needs")
    led_active_high: bool = setting(
        "panel.led_active_high", Boolean(), True, "`false` for common-anode LEDs.",
        must="must say whether a high pin lights the LED")
    poll_seconds: float = setting(
        "panel.poll_seconds", Number(0.1, 2), 1.0, "How often the LED's state is recomputed.",
        must="must be seconds between checks")

    def __post_init__(self) -> None:
        if not self.led_pins and self.led in LED_WIRINGS:  # not set: the wiring's default
            object.__setattr__(self, "led_pins", DEFAULT_LED_PINS[:LED_WIRINGS[self.led]])


@dataclass(frozen=True)
class AlertsConfig:
    webhook_url: str | None = setting(
        "alerts.webhook_url", OrEmpty(Url()), "", "Where missed-slot and recovery alerts are "
        "POSTed as JSON (alerts-and-metrics.md); empty: alerts are only logged and audited.",
        must="must be where missed-slot alerts are POSTed", secret=True)
    timeout_seconds: int = setting(
        "alerts.timeout_seconds", Integer(1, 300), 10, "How long to wait for the webhook to "
        "answer.", must="must be seconds to wait for the webhook")


@dataclass(frozen=True)
class DrillsConfig:
    """Outage drills (`appliance drill`, printing.md)."""

    remind_after_days: int = setting(
        "drills.remind_after_days", Integer(1, 3650), 90, "Days after the last drill (or "
        "at once, if there never was one) after which the kiosk shows a reminder and one "
        "webhook alert is sent.", must="must be days between drills before a reminder")


@dataclass(frozen=True)
class PlannedWindowConfig:
    """One `[[outage.planned]]` table: a planned outage IT announced in the config (the
    Ansible role's `appliance_planned_outages`)."""

    starts: Any = setting(
        "from", LocalDateTime(), REQUIRED, "When the outage begins, local time "
        "(`freshness.timezone`), to the minute: `2026-12-12T18:00`.",
        must="must be when the outage begins, e.g. 2026-12-12T18:00")
    ends: Any = setting(
        "to", LocalDateTime(), REQUIRED, "When it is expected to end, local time; after "
        "`from`.", must="must be when the outage ends, after from, e.g. 2026-12-12T22:00")
    note: str = setting(
        "note", OrEmpty(Text(r"[^\x00-\x1f\x7f-\x9f]{1,200}", "one line of at most 200 "
                             "characters")), "", "What IT says about it (shown in `status` and "
        "`appliance outage list`; never patient data).", must="must be one line of at most 200 "
        "characters")


@dataclass(frozen=True)
class OutageConfig:
    """Planned outages (docs/planned-outages.md)."""

    print_kit_at_start: bool = setting(
        "outage.print_kit_at_start", Boolean(), False, "At the start of a planned outage the "
        "`jobs` service prints the kit of `outage.kit_profile` by itself, once per outage "
        "(also when it starts late inside the window, never after it).",
        must="must say whether the kit is printed at the start of a planned outage")
    kit_profile: str = setting(
        "outage.kit_profile", Text(NAME_PATTERN, "a profile name from [printing.profiles]"),
        "full", "The profile printed at the start of a planned outage (`full`: every list "
        "and the forms).", must="must name a print profile")
    show_days_ahead: int = setting(
        "outage.show_days_ahead", Integer(1, 365), 14, "A planned outage is shown on the "
        "kiosk and in `status` from this many days before it begins.",
        must="must be days before a planned outage that it is shown")
    planned: tuple[PlannedWindowConfig, ...] = list_of(
        "outage.planned", PlannedWindowConfig, "Planned outages announced in the config "
        "(`appliance outage plan` and enrolled senders add others to the state directory).")


# The roles of the routine's chain on the contacts sheet, in the order of `[contacts]`.
CONTACT_ROLES = ("cosafe", "unit_manager", "manager_on_call", "it_support")
# What a name or note may be: one line of printable text, no `|` (the sheet's table cells).
_LINE_PATTERN = r"[^\x00-\x1f\x7f-\x9f|]{1,80}"
_LINE_RULE = "one line of at most 80 characters, without |"


@dataclass(frozen=True)
class ContactConfig:
    """One role on the contacts sheet: `[contacts.ROLE]`, or a unit's PAS in `[[contacts.pas]]`."""

    phone: str = setting(
        "phone", PhoneNumber(), REQUIRED, 'The number to call, in quotes: digits, spaces, '
        '`+`, `-` and parentheses, at least 6 digits, at most 30 characters '
        '(`"0456-123 45"`, `"+46 70 123 45 67"`).', must="must be the phone number to call")
    name: str | None = setting(
        "name", OrEmpty(Text(_LINE_PATTERN, _LINE_RULE)), "", "Who answers, or the "
        "function's name (`Växeln`, `Anna Andersson`); printed beside the number.",
        must="must be who answers the phone, or empty")
    note: str | None = setting(
        "note", OrEmpty(Text(_LINE_PATTERN, _LINE_RULE)), "", "A short Swedish note "
        "printed with it (`Larma via Cosafe-appen`, `Knappval 2`).",
        must="must be a short note, or empty")


@dataclass(frozen=True)
class PasContactConfig(ContactConfig):
    """A unit's PAS (patient-responsible nurses): whom the night nurse phones for patient
    information."""

    unit: str | None = setting(
        "unit", OrEmpty(Text(UNIT_NAME_PATTERN, UNIT_NAME_RULE)), "", "The unit, as in "
        "`units.names` (each configured unit once); empty in single-unit mode.",
        must="must be one of units.names, or empty in single-unit mode")


@dataclass(frozen=True)
class ContactsConfig:
    """Who to call, printed on the contacts sheet of every kit (printing.md)."""

    updated: date | None = setting(
        "contacts.updated", OrEmpty(IsoDate()), "", "The day the contacts below were last "
        "changed or checked (`2026-11-03`); printed on the sheet (\"Uppgifterna ändrades "
        "2026-11-03\"). Required when any contact is set.",
        must="must be the date the contacts were last checked")
    stale_after_days: int = setting(
        "contacts.stale_after_days", Integer(1, 3650), 180, "When `updated` is more days ago "
        "than this, the sheet tells nurses under a black bar to check the numbers, and "
        "`appliance config check` warns.",
        must="must be days after which the contacts need checking")
    day_starts: Slot = setting(
        "contacts.day_starts", TimeOfDay(), "07:00", "Start of the unit manager's (EC) day, "
        "local time, Monday to Friday except Swedish public holidays; other times are on-call "
        "hours (jourtid: the manager on call, CIB). The one in force when the kit is printed "
        "comes first on the sheet, marked \"Ring nu\".",
        must='must be the time the day starts, "HH:MM"')
    day_ends: Slot = setting(
        "contacts.day_ends", TimeOfDay(), "16:30", "End of the unit manager's day (the "
        "on-call hours start then).", must='must be the time the day ends, "HH:MM"')
    cosafe: ContactConfig | None = sub_table(
        "contacts.cosafe", ContactConfig, "Cosafe: how the outage alert goes out.",
        doc_title="[contacts.ROLE]")
    unit_manager: ContactConfig | None = sub_table(
        "contacts.unit_manager", ContactConfig, "The unit manager (EC, enhetschef), "
        "by day.", doc_title="[contacts.ROLE]", aliases=("ec", "enhetschef"))
    manager_on_call: ContactConfig | None = sub_table(
        "contacts.manager_on_call", ContactConfig, "The manager on call (CIB, chef i "
        "beredskap), in on-call hours.", doc_title="[contacts.ROLE]",
        aliases=("cib", "jour"))
    it_support: ContactConfig | None = sub_table(
        "contacts.it_support", ContactConfig, "IT support.", doc_title="[contacts.ROLE]",
        aliases=("it",))
    pas: tuple[PasContactConfig, ...] = list_of(
        "contacts.pas", PasContactConfig, "Each unit's PAS (patientansvarig sjuksköterska): "
        "one per configured unit, or one in single-unit mode.")

    @property
    def roles(self) -> dict[str, ContactConfig | None]:
        return {role: getattr(self, role) for role in CONTACT_ROLES}

    @property
    def configured(self) -> bool:
        """Whether any contact is set (otherwise the sheet says none is)."""
        return any(self.roles.values()) or bool(self.pas)


@dataclass(frozen=True)
class ApplianceConfig:
    source: Path
    name: str = setting(
        "appliance.name", Text(), socket.gethostname, "The appliance's name, shown by "
        "`appliance status` and `/api/v1/status`.", must="must be text",
        default_doc="the machine's host name")
    state_dir: Path = setting(
        "appliance.state_dir", FilePath(), "/var/lib/appliance", "Everything the appliance "
        "writes: `keys/` (appliance.key 0600, appliance.pub), `snapshots/` (sealed, as "
        "received), `index.sqlite3`, `store.lock`, `audit.log`. The service user must be able "
        "to write here.", must="must be a path")
    senders_dir: Path = setting(
        "appliance.senders_dir", FilePath(), "/etc/appliance/senders", "Enrolled senders, one "
        "`NAME.pub` (Ed25519 public key) each; only snapshots signed by one of them are "
        "accepted. Managed with `appliance senders add/list/remove`.", must="must be a path")
    kem: keys.KemSuite = setting(
        "keys.kem", Choice(keys.KEM_SUITES), keys.MLKEM768_X25519.name, "How snapshots to this "
        "appliance are encrypted: `mlkem768-x25519` (hybrid post-quantum, recommended: health "
        "data must stay secret for decades) or `x25519`. Must match the key in "
        "`state_dir/keys`; changing it needs a new key and re-enrolment on every sender.",
        must="must name the KEM for the appliance key")
    private_key_credential: str = setting(
        "keys.private_key_credential", OrEmpty(Text(CREDENTIAL_NAME_PATTERN, CREDENTIAL_NAME_RULE)),
        "", "Name of the systemd credential that holds the private key (`appliance-key` on an "
        "appliance the Ansible role provisioned): the services read it from "
        "`$CREDENTIALS_DIRECTORY/NAME` (their units' `LoadCredentialEncrypted=`), and its "
        "encrypted file is `credentials/NAME.cred` beside this config file. Empty: the key is "
        "the file `state_dir/keys/appliance.key` (development, tests, the demo). See "
        "docs/key-protection.md.", must="must be a systemd credential name, or empty")
    web_host: str = setting(
        "web.host", Text(), "0.0.0.0", "Address the web service listens on; `0.0.0.0`: all "
        "network interfaces.", must="must be an address to listen on")
    web_port: int = setting(
        "web.port", Integer(1, 65535), 8080, "TCP port of the web service; the senders' "
        "appliance URL must use it.", must="must be a TCP port")
    web_workers: int = setting(
        "web.workers", Integer(1, 16), 2, "Number of web server processes.",
        must="must be a number of processes")
    web_timeout_seconds: int = setting(
        "web.timeout_seconds", Integer(5, 3600), 120, "How long one request (a large snapshot "
        "on a slow network) may take before the server ends it.",
        must="must be seconds a request may take")
    web_socket: Path = setting(
        "web.socket", FilePath(), "/run/appliance/web.sock", "Unix socket gunicorn listens "
        "on; only the web proxy (nginx, on `host:port`) connects to it.",
        must="must be a path")
    web_header_timeout_seconds: int = setting(
        "web.header_timeout_seconds", Integer(1, 300), 10, "The proxy closes a connection "
        "whose request line and headers have not all arrived within this time.",
        must="must be seconds a client may take to send its request headers")
    web_body_timeout_seconds: int = setting(
        "web.body_timeout_seconds", Integer(1, 300), 1, "The proxy ends a request whose "
        "client pauses longer than this while sending its body or receiving the answer "
        "(a pause, not the whole transfer; a LAN upload never pauses a second unless the "
        "network fails, and senders retry).",
        must="must be seconds a client may pause while sending or receiving")
    web_max_connections_per_client: int = setting(
        "web.max_connections_per_client", Integer(1, 1000), 16, "Requests one client "
        "address may have in progress at the proxy; more are refused with HTTP 429.",
        must="must be how many requests one address may have in progress")
    web_metrics_allow: tuple[str, ...] = setting(
        "web.metrics_allow", Networks(), ["127.0.0.1", "::1"], "Addresses or networks that "
        "may read `/metrics` (the monitoring hosts); the proxy answers every other client "
        "403 `forbidden`. The rest of the API is not affected. See docs/alerts-and-metrics.md.",
        must="must list the addresses or networks of the monitoring hosts")
    max_snapshot_bytes: int = setting(
        "web.max_snapshot_mb", Integer(1, 1024, scale=MIB), 64, "Largest encrypted payload "
        "accepted, in MiB; larger snapshots are refused (HTTP 413). The envelope's header may "
        "add up to about 64 KiB.", must="must be the largest snapshot accepted, in MiB")
    max_clock_skew_minutes: int = setting(
        "ingest.max_clock_skew_minutes", Integer(0, 24 * 60), 10, "A snapshot with a "
        "document produced more than this far ahead of the appliance's clock is refused "
        "(HTTP 422 `from_the_future`): keep both clocks on NTP.",
        must="must be minutes a document's time may be ahead of the appliance's clock")
    max_pages_per_document: int = setting(
        "ingest.max_pages_per_document", Integer(1, 100_000), 2500, "A document with more "
        "pages is refused (HTTP 422 `too_many_pages`), and one stored before is left out of "
        "kits, with a line on the cover (printing.md, the memory bound).",
        must="must be the most pages one document may have")
    max_pages_per_snapshot: int = setting(
        "ingest.max_pages_per_snapshot", Integer(1, 100_000), 2500, "A snapshot whose "
        "documents have more pages together is refused (HTTP 422 `too_many_pages`).",
        must="must be the most pages one snapshot may have")
    max_stream_bytes: int = setting(
        "ingest.max_stream_mb", Integer(1, 1024, scale=MIB), 64, "Largest decoded size "
        "(MiB) of any stream or image in a document, measured by decoding with a cap: more "
        "is refused (HTTP 422 `stream_too_large`), and such a document stored before is left "
        "out of kits, with a line on the cover.",
        must="must be the largest decoded stream accepted, in MiB")
    max_units_per_snapshot: int = setting(
        "ingest.max_units_per_snapshot", Integer(1, 1000), 20, "A snapshot naming more "
        "different units is refused (HTTP 422 `too_many_units`).",
        must="must be the most units one snapshot may name")
    free_space_reserve_bytes: int = setting(
        "storage.free_space_reserve_mb", Integer(0, 10**6, scale=MIB), 200, "Free disk space "
        "(MiB) kept for the audit log and the index: a snapshot that would leave less is "
        "refused (HTTP 507), while refusals and prints are still audited. Nobody without a "
        "key can eat into it: their refusals are counted, one audit line per reason a "
        "minute.", must="must be the free disk space (MiB) to keep")
    audit_segment_max_bytes: int = setting(
        "audit.segment_max_mb", Integer(1, 4096, scale=MIB), 64, "Size (MiB) at which "
        "`audit.log` is closed as a segment, `audit.log.NNNNNNNNNNNN` (the number of its "
        "first entry), and a new `audit.log` continues the hash chain; `appliance audit "
        "verify` checks them all.", must="must be the size of an audit log segment, in MiB")
    keep_per_unit_kind: int = setting(
        "retention.keep_per_unit_kind", Integer(1, 10_000), 2, "How many of the newest "
        "documents of each unit and kind (from any sender) are kept whatever their age: 2 is "
        "the newest and the one before it (see the retention rule).",
        must="must be how many documents to keep per unit and kind",
        formerly=("retention.keep_per_sender_unit_kind", "retention.keep_per_kind"),
        same_meaning=False)
    max_age_hours: int = setting(
        "retention.max_age_hours", Integer(1, 10 * 8760), 72, "Every other document is "
        "deleted once it was produced longer ago than this many hours.",
        must="must be a number of hours", formerly=("retention.max_age_days",),
        same_meaning=False)
    unconfigured_unit_grace_days: int = setting(
        "retention.unconfigured_unit_grace_days", Integer(0, 3650), 7, "Days the documents "
        "of a unit that is not (or no longer) in `units.names` are kept after the appliance "
        "first found it unconfigured; then they are deleted, newest included.",
        must="must be days to keep the documents of a unit no longer configured")
    timezone: Any = setting(
        "freshness.timezone", TimeZone(), TIMEZONE, "IANA time zone of the slot times (e.g. "
        "`Europe/Helsinki`); slots follow its daylight saving time. Case-sensitive.",
        must="must be an IANA time zone such as Europe/Stockholm")
    grace_minutes: int = setting(
        "freshness.grace_minutes", Integer(0, 24 * 60), 30, "Grace period around each slot "
        "(see the freshness rule).",
        must="must be minutes after a slot before a kind counts as stale")
    has_rtc: bool = setting(
        "clock.has_rtc", Boolean(), False, "The appliance has a battery-backed real-time "
        "clock (a Pi 5 with its battery, a DS3231 board on a Pi 4), so its clock is right "
        "after a power cut even without a network. `false`: only a clock synchronised over "
        "the network is trusted; otherwise ages are printed as lower bounds (see "
        "clinical-safety.md).", must="must say whether the appliance has a real-time clock")
    units: tuple[str, ...] = setting(
        "units.names", ListOfText(UNIT_NAME_PATTERN, UNIT_NAME_RULE), [], "The units this "
        "appliance prints for, spelled as the senders write them (`sender.unit`). Empty: "
        "single-unit mode, unit names are not checked (see the unit rule).",
        must="must list the units this appliance prints for")
    kinds: dict[str, KindConfig] = table_of(
        "kinds", KindConfig, "Document kinds; snapshots with a kind not configured here are "
        "refused.", name_pattern=NAME_PATTERN, name_rule=KIND_NAME_RULE, builtins=DEFAULT_KINDS,
        new_entry=lambda name: {"title": name, "slots": [], "signoff": False})
    printing: PrintingConfig = group(PrintingConfig)
    panel: PanelConfig = group(PanelConfig)
    alerts: AlertsConfig = group(AlertsConfig)
    drills: DrillsConfig = group(DrillsConfig)
    contacts: ContactsConfig = group(ContactsConfig)
    outage: OutageConfig = group(OutageConfig)

    @property
    def keys_dir(self) -> Path:
        return self.state_dir / "keys"

    @property
    def private_key_path(self) -> Path:
        return self.keys_dir / "appliance.key"

    @property
    def private_key_credential_file(self) -> Path:
        """The key encrypted by `systemd-creds`, beside the config file (docs/key-protection.md)."""
        return Path(self.source).parent / "credentials" / f"{self.private_key_credential}.cred"

    @property
    def public_key_path(self) -> Path:
        return self.keys_dir / "appliance.pub"


def load_appliance_config(path: Path | str) -> ApplianceConfig:
    return load(ApplianceConfig, path, checks=(_profiles_name_known_kinds, _led_pins_fit_wiring,
                                               _units_are_distinct, _contacts_fit_together,
                                               _outages_fit_together))


def _profiles_name_known_kinds(config: ApplianceConfig, data: dict) -> list[str]:
    """Every kind named in the file counts as known, valid or not: a broken [kinds.X] is
    reported once, there, and not again by each profile that names X."""
    table = data.get("kinds")
    known = set(DEFAULT_KINDS) | set(table if isinstance(table, dict) else ())
    problems = []
    for name, profile in config.printing.profiles.items():
        unknown = [k for k in profile.kinds or () if k != "*" and k not in known]
        if unknown:
            problems.append(f"profiles.{name}.kinds: unknown kind(s) {', '.join(unknown)} "
                            f"(known: {', '.join(sorted(known))})")
    return problems


def _outages_fit_together(config: ApplianceConfig, data: dict) -> list[str]:
    """The kit profile exists; each planned outage ends after it begins."""
    outage, problems = config.outage, []
    if outage.kit_profile not in config.printing.profiles:
        problems.append(f"outage.kit_profile: must name a print profile, got "
                        f"{outage.kit_profile!r} (configured: "
                        f"{', '.join(config.printing.profiles)})")
    return problems + _windows_end_after_they_begin(outage.planned)


def _windows_end_after_they_begin(planned: tuple[PlannedWindowConfig, ...]) -> list[str]:
    problems = []
    for number, window in enumerate(planned, start=1):
        if window.ends <= window.starts:
            problems.append(f"outage.planned[{number}].to: must be after from "
                            f"({window.starts:%Y-%m-%dT%H:%M}), got {window.ends:%Y-%m-%dT%H:%M}")
    return problems


def _sender_windows_end_after_they_begin(config: SenderConfig, data: dict) -> list[str]:
    return _windows_end_after_they_begin(config.outage.planned)


def _units_are_distinct(config: ApplianceConfig, data: dict) -> list[str]:
    repeated = sorted({unit for unit in config.units if config.units.count(unit) > 1})
    return [f"units.names: must list the units this appliance prints for, got "
            f"{unit!r} more than once" for unit in repeated]


def _contacts_fit_together(config: ApplianceConfig, data: dict) -> list[str]:
    """The day ends after it starts; a date when contacts are set; each PAS names a
    configured unit once (or, in single-unit mode, there is one at most)."""
    contacts, problems = config.contacts, []
    if contacts.day_ends <= contacts.day_starts:
        problems.append(f"contacts.day_ends: must be the time the day ends, after "
                        f"contacts.day_starts ({contacts.day_starts}), got "
                        f"{str(contacts.day_ends)!r}")
    if contacts.configured and contacts.updated is None:
        problems.append("contacts.updated: must be the date the contacts were last checked "
                        "(e.g. 2026-11-03), but it is missing: it is printed on the sheet so "
                        "that an old number shows")
    if not config.units and len(contacts.pas) > 1:
        problems.append(f"contacts.pas: must be one PAS contact in single-unit mode, got "
                        f"{len(contacts.pas)} (list the units in units.names to give each "
                        "its own)")
    seen: set[str] = set()
    for number, pas in enumerate(contacts.pas, start=1):
        if not config.units:
            break
        rule = f"contacts.pas[{number}].unit: must be one of units.names"
        if pas.unit is None:
            problems.append(f"{rule}, but it is missing (configured: "
                            f"{', '.join(config.units)})")
        elif pas.unit not in config.units:
            problems.append(f"{rule}, got {pas.unit!r} (configured: {', '.join(config.units)})")
        elif pas.unit in seen:
            problems.append(f"{rule}, got {pas.unit!r} more than once")
        seen.add(pas.unit or "")
    return problems


def _led_pins_fit_wiring(config: ApplianceConfig, data: dict) -> list[str]:
    panel = config.panel
    wanted = LED_WIRINGS.get(panel.led, len(panel.led_pins))
    if len(panel.led_pins) == wanted:
        return []
    return [f"panel.led_pins: must list the LED's GPIO pins (BCM numbers), got "
            f"{list(panel.led_pins)!r} (expected {wanted} GPIO number(s) for led = "
            f"{panel.led!r})"]


# ---------------------------------------------------------------- sender


@dataclass(frozen=True)
class OutboxRule:
    """Export files whose name matches `glob` are documents of `kind`."""

    glob: str = setting(
        "glob", Text(), REQUIRED, "File names this rule takes (`*`, `?`, `[...]`; case does "
        "not matter).", must="must be a file name pattern")
    kind: str = setting(
        "kind", Text(NAME_PATTERN, KIND_NAME_RULE), REQUIRED, "The kind of document these "
        "files are; the appliances must know it.", must="must be a kind name")
    unit: str | None = setting(
        "unit", OrEmpty(Text()), "", "Unit written into the manifest; empty: `sender.unit`.",
        must="must be the unit named on printed sheets")
    title: str | None = setting(
        "title", OrEmpty(Text()), "", "Document title; empty: the kind's Swedish title.",
        must="must be the document's title")


@dataclass(frozen=True)
class OutboxConfig:
    dir: Path | None = setting(
        "outbox.dir", OrEmpty(FilePath()), "", "The folder the record system's exports land "
        "in; needed by `run` and `sync` (empty: only `push` by hand).",
        must="must be the folder exports land in, or empty")
    stable_seconds: float = setting(
        "outbox.stable_seconds", Number(0, 3600), 5.0, "A file must keep its size and "
        "modification time this long before it is sent.",
        must="must be seconds a file must stay unchanged")
    poll_seconds: float = setting(
        "outbox.poll_seconds", Number(0.1, 600), 2.0, "Time between passes of `run`.",
        must="must be seconds between looks at the outbox")
    after_delivery: str = setting(
        "outbox.after_delivery", Choice(names("keep", "delete")), "keep", "`delete`: remove "
        "the export once every appliance accepted it.",
        must="must say what happens to a delivered export")
    rules: tuple[OutboxRule, ...] = list_of(
        "outbox.rules", OutboxRule, "Which export files are which kind: the first rule whose "
        "`glob` matches a file name applies.")


@dataclass(frozen=True)
class ScheduleConfig:
    """When exports are expected on this PC (missing-export warnings)."""

    slots: tuple[Slot, ...] = setting(
        "schedule.slots", Times(), ["07:00", "14:30"], "Times exports of the required kinds "
        "are expected.", must="must list the times exports are expected")
    grace_minutes: int = setting(
        "schedule.grace_minutes", Integer(0, 24 * 60), 30, "Minutes after a slot before an "
        "export counts as missing (sender.md, the slot rule).",
        must="must be minutes after a slot before an export is missing")
    required_kinds: tuple[str, ...] = setting(
        "schedule.required_kinds", ListOfText(NAME_PATTERN, "a kind name"), ["todo"],
        'Kinds checked at every slot; others are sent but never "missing".',
        must="must list the kinds expected at every slot")
    timezone: Any = setting(
        "schedule.timezone", TimeZone(), TIMEZONE, "IANA time zone of the slot times (follows "
        "daylight saving time).", must="must be an IANA time zone such as Europe/Stockholm")


@dataclass(frozen=True)
class SenderAlertsConfig:
    webhook_url: str | None = setting(
        "alerts.webhook_url", OrEmpty(Url()), "", "Where missing-export and delivery alerts "
        "are POSTed as JSON; empty: only logged.",
        must="must be where missing-export alerts are POSTed", secret=True)
    undelivered_warn_minutes: int = setting(
        "alerts.undelivered_warn_minutes", Integer(1, 7 * 24 * 60), 60, "`status` exits 1 "
        "when a delivery has waited longer, or no pass has run for longer.",
        must="must be minutes a file may wait undelivered")


@dataclass(frozen=True)
class SenderOutageConfig:
    """Planned outages set in the sender's config (docs/planned-outages.md)."""

    planned: tuple[PlannedWindowConfig, ...] = list_of(
        "outage.planned", PlannedWindowConfig, "Planned outages set by IT for a fleet (the "
        "sender role's `sender_planned_outages`, by default the appliances' "
        "`appliance_planned_outages`), local times of `schedule.timezone`. The agent makes "
        "its extra delivery of every kind 30 minutes before each begins. It does not "
        "announce them: the appliances have the same windows in their own config. "
        "(`appliance-sender outage plan` adds windows that are announced.)")


@dataclass(frozen=True)
class SenderConfig:
    source: Path
    name: str = setting(
        "sender.name", Text(), socket.gethostname, "The sender's own name. (On an appliance "
        "a sender is known by the name given to `appliance senders add NAME`.)",
        must="must be text", default_doc="the machine's host name")
    state_dir: Path = setting(
        "sender.state_dir", FilePath(), "/var/lib/appliance-sender", "The sender's key pair "
        "(`keys/sender.key`, `keys/sender.pub`), sequence counter and delivery queue.",
        must="must be a path")
    appliances_dir: Path = setting(
        "sender.appliances_dir", FilePath(), "/etc/appliance/appliances", "The appliances to "
        "deliver to: `NAME.pub` and `NAME.url` each. Managed with "
        "`appliance-sender appliances add/list/remove`.", must="must be a path")
    unit: str = setting(
        "sender.unit", Text(), "Hemsjukvård", "Organisational unit written into each "
        "document's manifest entry and printed on the sheets, unless `push --unit` or a rule "
        "says otherwise.", must="must be the unit named on printed sheets")
    push_timeout_seconds: int = setting(
        "push.timeout_seconds", Integer(1, 3600), 60, "How long one delivery attempt may "
        "take.", must="must be seconds to wait for an appliance")
    retry_initial_seconds: float = setting(
        "push.retry_initial_seconds", Number(1, 3600), 30.0, "Wait after the first failed "
        "attempt.", must="must be seconds before the first retry")
    retry_max_seconds: float = setting(
        "push.retry_max_seconds", Number(1, 86400), 1800.0, "Longest wait between attempts "
        "(the wait doubles: 30, 60, 120 … 1800 s).",
        must="must be the longest wait between retries, in seconds")
    outbox: OutboxConfig = group(OutboxConfig)
    schedule: ScheduleConfig = group(ScheduleConfig)
    alerts: SenderAlertsConfig = group(SenderAlertsConfig)
    outage: SenderOutageConfig = group(SenderOutageConfig)

    @property
    def private_key_path(self) -> Path:
        return self.state_dir / "keys" / "sender.key"

    @property
    def public_key_path(self) -> Path:
        return self.state_dir / "keys" / "sender.pub"


def load_sender_config(path: Path | str) -> SenderConfig:
    return load(SenderConfig, path, checks=(_sender_windows_end_after_they_begin,))


def resolve_path(explicit: str | Path | None, env_var: str, default: Path) -> Path:
    """--config wins, then the environment variable, then the packaged default path."""
    if explicit:
        return Path(explicit)
    if os.environ.get(env_var):
        return Path(os.environ[env_var])
    return default
