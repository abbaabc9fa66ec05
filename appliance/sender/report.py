"""`appliance-sender status`: what the agent has done and what is wrong, from its state files.

Read-only and offline: it neither scans the outbox nor calls an appliance, so it is safe
to run while the agent runs. No export file names appear (they may hold patient names).

Problems (any one makes `status` exit 1):
- a delivery waiting longer than `alerts.undelivered_warn_minutes`;
- a delivery refused for good (it will not be retried by itself), one line each with the
  kind, when it was produced and the appliance's reason (a 413 names the limit);
- a required kind missing for its last slot (same rule as the agent's alerts);
- no pass for longer than `alerts.undelivered_warn_minutes` (the agent is not running);
- no appliance configured.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from appliance.core.base.clock import Clock, local_time, parse_iso
from appliance.core.config.settings import SenderConfig
from appliance.sender.agent import describe_error, missing_slot
from appliance.sender.appliances import ApplianceFolder
from appliance.sender.queue import DeliveryQueue, Entry
from appliance.sender.state import AgentState, to_iso


def sender_status(config: SenderConfig, clock: Clock) -> dict[str, Any]:
    now = clock.now()
    queue = DeliveryQueue.load(config.state_dir)
    state = AgentState.load(config.state_dir)
    warn_after = timedelta(minutes=config.alerts.undelivered_warn_minutes)
    problems: list[str] = []
    appliances = _appliances(config, queue, state, now, warn_after, problems)
    kinds = _kinds(config, state, now, problems)
    if state.last_pass is None:
        problems.append("the agent has never made a pass (`appliance-sender run` or `sync`)")
    elif now - state.last_pass > warn_after:
        problems.append(f"no pass since {local_time(state.last_pass, config.schedule.timezone)}"
                        ": is the agent running?")
    return {
        "sender": config.name,
        "now": to_iso(now),
        "ok": not problems,
        "problems": problems,
        "last_pass": to_iso(state.last_pass),
        "outbox": {"dir": str(config.outbox.dir) if config.outbox.dir else None,
                   "after_delivery": config.outbox.after_delivery,
                   "not_yet_complete": state.settling, "unmatched": state.unmatched},
        "appliances": appliances,
        "kinds": kinds,
        "dropped": state.dropped,
        "alerts": {"webhook": bool(config.alerts.webhook_url),
                   "pending": state.pending_alerts.alerts(),
                   "recent": state.recent_alerts},
        "outages": state.outages,  # per planned outage: announced to, extra delivery queued
    }


def _appliances(config: SenderConfig, queue: DeliveryQueue, state: AgentState,
                now: datetime, warn_after: timedelta, problems: list[str]) -> dict[str, Any]:
    folder = ApplianceFolder(config.appliances_dir)
    names = folder.keys.names()
    if not names:
        problems.append("no appliances configured (`appliance-sender appliances add`)")
    result = {}
    for name in names:
        try:
            url = folder.get(name).url
        except (ValueError, OSError) as exc:
            url = None
            problems.append(f"{name}: cannot be loaded ({exc})")
        pending, failed = queue.pending(name), queue.failed(name)
        late = [e for e in pending if now - e.queued_at > warn_after]
        if late:
            since = local_time(min(e.queued_at for e in late), config.schedule.timezone)
            problems.append(f"{name}: {len(late)} export(s) undelivered since {since}")
        problems.extend(_refused(name, entry, config) for entry in failed)
        record = state.appliances.get(name)
        result[name] = {
            "url": url,
            "last_success": to_iso(record.last_success) if record else None,
            "last_error": record.last_error if record else None,
            "next_attempt_at": to_iso(record.next_attempt_at) if record else None,
            "pending": [e.summary() for e in pending],
            "failed": [e.summary() for e in failed],
        }
    return result


def _refused(appliance: str, entry: Entry, config: SenderConfig) -> str:
    error = entry.last_error or {}
    produced = local_time(entry.produced_at, config.schedule.timezone)
    reason = describe_error(error.get("status"), error.get("error", "?"),
                            error.get("message", ""))
    return f"{appliance}: the {entry.kind} export produced {produced} was refused for good: " \
           f"{reason}"


def _kinds(config: SenderConfig, state: AgentState, now: datetime,
           problems: list[str]) -> dict[str, Any]:
    required = config.schedule.required_kinds
    names = sorted({*required, *state.kinds, *(rule.kind for rule in config.outbox.rules)})
    result = {}
    for kind in names:
        record = state.kinds.get(kind)
        slot = missing_slot(config.schedule, record.produced_at if record else None, now) \
            if kind in required else None
        if slot is not None:
            slot_time = local_time(slot, config.schedule.timezone)
            problems.append(f"{kind}: no export for the {slot_time} slot")
        result[kind] = {
            "required": kind in required,
            "last_export": to_iso(record.produced_at) if record else None,
            "seen_at": to_iso(record.seen_at) if record else None,
            "missing_slot": to_iso(slot),
        }
    return result


def describe(status: dict[str, Any], config: SenderConfig) -> list[str]:
    """The human-readable `status` lines, times in the schedule's time zone."""

    def when(text: str | None) -> str:
        return (local_time(parse_iso(text), config.schedule.timezone, zone_abbreviation=True)
                if text else "never")

    lines = [f"sender {status['sender']} at {when(status['now'])}, "
             f"last pass {when(status['last_pass'])}",
             "appliances:"]
    for name, info in status["appliances"].items():
        line = (f"  {name:<14} last success {when(info['last_success'])}, "
                f"{len(info['pending'])} pending, {len(info['failed'])} failed")
        if info["last_error"]:
            error = info["last_error"]
            line += (f"; last error {when(error['at'])}: "
                     f"{describe_error(error['status'], error['error'], error['message'])}")
        if info["next_attempt_at"]:
            line += f"; next try {when(info['next_attempt_at'])}"
        lines.append(line)
    lines.append("kinds:")
    for kind, info in status["kinds"].items():
        line = f"  {kind:<14} last export {when(info['last_export'])}"
        if info["missing_slot"]:
            line += f", MISSING for the {when(info['missing_slot'])} slot"
        lines.append(line)
    outbox = status["outbox"]
    if outbox["not_yet_complete"] or outbox["unmatched"]:
        lines.append(f"outbox: {outbox['not_yet_complete']} export(s) not yet complete, "
                     f"{outbox['unmatched']} file(s) matching no rule")
    lines.extend(f"dropped {when(d['at'])}: a {d['kind']} export for {d['appliance']}: "
                 f"{d['message']}" for d in status["dropped"][-5:])
    lines.append("problems:" if status["problems"] else "ok")
    lines.extend(f"  {problem}" for problem in status["problems"])
    return lines
