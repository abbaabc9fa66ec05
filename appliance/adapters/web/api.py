"""`/api/v1`: snapshot ingest and status; `/healthz` for monitoring."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from appliance.adapters.web.services import services
from appliance.core.base.clock import isoformat_utc
from appliance.core.intake.importing import last_import
from appliance.core.intake.ingest import Refusal, ingest, max_envelope_bytes, refuse
from appliance.core.intake.store import StoreError
from appliance.core.services import Services

bp = Blueprint("api", __name__)
ENVELOPE_TYPE = "application/octet-stream"
READ_CHUNK = 1024 * 1024


@bp.post("/api/v1/snapshots")
def post_snapshot():
    svc = services()
    remote = request.remote_addr or "unknown"
    try:
        if request.mimetype != ENVELOPE_TYPE:
            _discard_body_within(max_envelope_bytes(svc))
            raise refuse(svc, 415, "unsupported_media_type",
                         f"send the envelope as {ENVELOPE_TYPE}", remote=remote,
                         size=request.content_length)
        body = _read_body_within(max_envelope_bytes(svc), svc, remote)
        snap = ingest(svc, body, remote)
    except Refusal as refusal:
        return jsonify(error=refusal.error, message=refusal.message), refusal.status
    return jsonify(
        id=snap.id,
        sender=snap.sender,
        received_at=isoformat_utc(snap.received_at),
        # Nothing of the manifest, not even counts: it travels encrypted (issue 26 §3).
    ), 201


def _discard_body_within(limit: int) -> None:
    """Read and drop the body of a request refused before its body was needed.

    gunicorn closes the connection after answering; unread bytes left in the socket make
    the kernel reset it instead of closing it, and nginx, reading the answer, then sees the
    reset and answers 502 in place of our refusal. nginx has already buffered the whole
    body (at most `limit` bytes), so reading it costs little.
    """
    stream, left = request.stream, limit
    while left > 0 and (chunk := stream.read(min(READ_CHUNK, left))):
        left -= len(chunk)


def _read_body_within(limit: int, svc: Services, remote: str) -> bytes:
    """Refuse by the declared length before reading a byte; bound chunked bodies too."""

    def too_large(size: int | None) -> Refusal:
        return refuse(svc, 413, "too_large", f"snapshot larger than this appliance's limit of "
                      f"{limit} bytes (web.max_snapshot_mb)", remote=remote, size=size)

    declared = request.content_length
    if declared is not None and declared > limit:
        raise too_large(declared)
    stream = request.stream
    chunks, total = [], 0
    while chunk := stream.read(READ_CHUNK):
        total += len(chunk)
        if total > limit:
            raise too_large(None)
        chunks.append(chunk)
    return b"".join(chunks)


@bp.get("/api/v1/status")
def get_status():
    svc = services()
    status = svc.status(svc.printer.report())
    return jsonify(status.to_json() | {"appliance": svc.config.name,
                                       "limits": _limits(svc),
                                       "last_import": last_import(svc.config.state_dir)})


def _limits(svc: Services) -> dict[str, int]:
    """What a sender must stay within. The proxy's `client_max_body_size` is the same
    body limit (adapters/web/proxy.py), so both refuse above the same byte count."""
    return {"max_body_bytes": max_envelope_bytes(svc),
            "max_snapshot_bytes": svc.config.max_snapshot_bytes}


@bp.get("/healthz")
def healthz():
    try:
        services().store.check_health()
    except StoreError:
        current_app.logger.exception("health check failed")
        return jsonify(status="unhealthy", message="store cannot be read or written"), 503
    return jsonify(status="ok")
