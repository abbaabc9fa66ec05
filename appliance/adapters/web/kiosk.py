"""`/kiosk`: the touch screen beside the button (docs/kiosk.md).

One page, rendered on the server in full, then kept true by polling `/kiosk/view` once a
second for the same fragment (no SSE: a stream would hold one of gunicorn's few sync
workers for good). Print buttons and the per-boot token are only in the page served to the
appliance's own browser, and `POST /kiosk/print` refuses anything else:

- "on this appliance" means the client nginx saw is exactly 127.0.0.1 or ::1
  (`request.remote_addr`, from the X-Forwarded-For nginx sets; see `server.behind_proxy`).
  The rest of 127.0.0.0/8 is loopback to the kernel but not the kiosk: tests use 127.0.1.x
  to stand for a LAN client;
- the POST carries the token in `X-Kiosk-Token` (`kiosk_token`), which a LAN client never
  sees.

The state shown is the LED's (`status.shown_state`), and a press goes through the one
`PrintService` with trigger `kiosk`, so a kit started from here, the button or the CLI is
the one kit in flight for all of them. The "Övning" button prints the button kit as an
outage drill (`drill=True`), under the same rules. "Efter avbrottet" (in the banner, on a
ready screen) prints the report after an outage (`outage_print`, trigger `kiosk`): not a
kit, so no kit guard.
With several units (`units.names`), each unit's section has its own button: that unit's
button kit (`unit=` of the print service).

"Vem ringer jag?" (`/kiosk/view?contacts=1`, on every screen, for the LAN too: staff phone
numbers, no patient data) shows the contacts sheet's contacts at the appliance's clock,
from the same `who_to_call` as the paper.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, abort, current_app, jsonify, render_template, request

from appliance.adapters.web.kiosk_text import Texts
from appliance.adapters.web.kiosk_token import kiosk_token, matches
from appliance.adapters.web.kiosk_view import (
    DRILL_BUTTON,
    DRILL_PROFILE,
    PROFILE_BUTTONS,
    REPORT_BUTTON,
    UNIT_BUTTON_PROFILE,
    Progress,
    button_label,
    drill_note,
    job_progress,
    not_started,
    overview,
    planned_outage_line,
)
from appliance.adapters.web.services import services
from appliance.core.base.templating import templates_dir
from appliance.core.printing.contacts import who_to_call
from appliance.core.printing.outage_print import print_report
from appliance.core.printing.print_service import Busy, PrintService, UnknownUnit
from appliance.core.printing.printer import PrinterReport, PrinterUnavailable
from appliance.core.records.audit import AuditError
from appliance.core.watch.status import shown_state

log = logging.getLogger(__name__)

BUTTONS = (*PROFILE_BUTTONS, DRILL_BUTTON, REPORT_BUTTON)  # what POST /kiosk/print takes
LOOPBACK = frozenset({"127.0.0.1", "::1"})
TOKEN_HEADER = "X-Kiosk-Token"
POLL_MILLISECONDS = 1000
CONTACTS_BACK_MILLISECONDS = 120_000  # the contacts give way to the state screen by themselves
PRINT_SERVICE_KEY = "appliance.kiosk.print_service"
TOKEN_KEY = "appliance.kiosk.token"
# Nothing from elsewhere, nothing inline but style attributes: the page works with the LAN
# down and a stray string in a title can never run as script.
CONTENT_SECURITY_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; "
                           "connect-src 'self'; img-src 'self'; base-uri 'none'; "
                           "form-action 'none'; frame-ancestors 'none'")

bp = Blueprint("kiosk", __name__, template_folder=str(templates_dir()),
               static_folder=str(templates_dir() / "kiosk" / "static"),
               static_url_path="/kiosk/static")


def on_this_appliance() -> bool:
    return request.remote_addr in LOOPBACK


def print_service() -> PrintService:
    extensions = current_app.extensions
    if PRINT_SERVICE_KEY not in extensions:
        extensions[PRINT_SERVICE_KEY] = PrintService(services())
    return extensions[PRINT_SERVICE_KEY]


def token() -> str:
    extensions = current_app.extensions
    if TOKEN_KEY not in extensions:
        extensions[TOKEN_KEY] = kiosk_token(services().config.state_dir)
    return extensions[TOKEN_KEY]


@bp.after_request
def page_headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    if request.endpoint != "kiosk.static":
        response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/kiosk")
def page():
    texts = Texts(request.args.get("lang"))
    return render_template("kiosk/page.html", texts=texts, poll=POLL_MILLISECONDS,
                           contacts_back=CONTACTS_BACK_MILLISECONDS,
                           token=token() if on_this_appliance() else None,
                           **_view(texts))


@bp.get("/kiosk/view")
def view():
    """The page's changing part, polled by the page."""
    texts = Texts(request.args.get("lang"))
    return render_template("kiosk/view.html", texts=texts, **_view(texts))


@bp.post("/kiosk/print")
def print_kit():
    if not on_this_appliance():
        abort(403, "printing only from the appliance's own screen")
    if not matches(token(), request.headers.get(TOKEN_HEADER)):
        abort(403, f"missing or wrong {TOKEN_HEADER}; reload the page")
    profile, unit = request.args.get("profile"), request.args.get("unit")
    if profile not in BUTTONS:
        abort(400, f"profile must be one of {', '.join(BUTTONS)}")
    drill = profile == DRILL_BUTTON
    # what the progress view needs to say which button was pressed
    pressed = {"profile": profile} | ({"unit": unit} if unit else {})
    if profile == REPORT_BUTTON:
        return _print_report(pressed)
    try:
        outcome = print_service().request(DRILL_PROFILE if drill else profile,
                                          trigger="kiosk", unit=unit, drill=drill)
    except UnknownUnit as exc:
        abort(400, str(exc))
    except PrinterUnavailable:
        return jsonify(outcome="failed", view=pressed | {"failed": 1})
    if isinstance(outcome, Busy):
        return jsonify(outcome="busy", view=pressed | {"busy": 1})
    return jsonify(outcome="started", job=outcome.job_id, pages=outcome.summary.pages,
                   view=pressed | {"job": outcome.job_id, "pages": outcome.summary.pages})


def _print_report(pressed: dict):
    """The report after an outage, printed; answered as a kit's press is. An audit log
    that cannot be read (a damaged line: `appliance audit verify` names it) is a failed
    print on the screen and an error in the log, never a trace."""
    try:
        printed = print_report(services(), "kiosk")
    except (AuditError, PrinterUnavailable) as exc:
        if isinstance(exc, AuditError):
            log.error("the outage report cannot be made: %s", exc)
        return jsonify(outcome="failed", view=pressed | {"failed": 1})
    return jsonify(outcome="started", job=printed.job_id, pages=printed.pages,
                   view=pressed | {"job": printed.job_id, "pages": printed.pages})


def _view(texts: Texts) -> dict:
    """The overview and, after a press on this screen, the kit's progress; or who to call,
    as the paper says it now (an unsure clock marks no manager "Ring nu", as on paper)."""
    svc = services()
    if request.args.get("contacts"):
        reading = svc.clock_reading()
        return {"contacts": who_to_call(svc.config, reading.now,
                                        clock_unsure=not reading.trusted)}
    report = svc.printer.report()
    kit_on_its_way = print_service().follow_up()
    status = svc.status(report)
    state = shown_state(status, kit_on_its_way)
    actions = on_this_appliance()
    return {"overview": overview(status, state, svc.config.timezone, texts),
            "buttons": PROFILE_BUTTONS if actions else (),
            "unit_button": UNIT_BUTTON_PROFILE if actions and len(svc.config.units) > 1
            else None,
            "drill_button": DRILL_BUTTON if actions else None,
            "report_button": REPORT_BUTTON if actions else None,
            "drill": drill_note(status.drill, texts),
            "planned_outage": planned_outage_line(status),
            "contacts": None,
            "progress": _progress(report, texts) if actions else None}


def _progress(report: PrinterReport, texts: Texts) -> Progress | None:
    args = request.args
    profile, unit = args.get("profile"), args.get("unit")
    if profile not in BUTTONS or (unit and unit not in services().config.units):
        return None
    title = button_label(profile, unit, texts)
    if args.get("busy") or args.get("failed"):
        return not_started(title, bool(args.get("busy")), report, texts)
    job = args.get("job", type=int)
    if job is None:
        return None
    printer = services().printer
    return job_progress(title, printer.job_state(job), args.get("pages", type=int), report,
                        texts, printer.job_printer(job) if report.members else None)
