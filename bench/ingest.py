"""Benchmark: ingest of 1, 10 and 50 MB snapshots over HTTP, next to a plain upload.

Run from the repository root:

    .venv/bin/python -m bench.ingest                      # sizes 1,10,50, repeat 3
    .venv/bin/python -m bench.ingest --sizes 1,10 --repeat 5 --json results.json

What one run does:

1. Sets up a throwaway installation (appliance + enrolled sender) with the real CLI in a
   temp dir, `web.max_snapshot_mb = 64` and retention high enough that nothing is deleted.
2. Starts the web service as production runs it (appliance.devtools.webstack: nginx in
   front of ONE gunicorn server, the project's `serve()` with the settings of `appliance
   serve`) through `python bench/ingest.py --serve CONFIG SOCKET`, whose app is the shipped
   `create_app(config)` plus one bench-only route, `POST /bench/upload`, that reads the body
   and writes it to a file in the state dir (open, write, flush, fsync, close): a server
   doing nothing but write the bytes. The route exists only in this process.
3. For each size: builds a synthetic PDF once (not timed), then, `--repeat` times, times
   (a) full ingest = `Sender.seal_for` (hybrid ML-KEM-768+X25519 HPKE + Ed25519) + HTTP push
   + the appliance's verify/decrypt/PDF check/store, from before sealing to the 201, with
   the seal time on its own; (b) a plain upload of the same envelope bytes to /bench/upload.
   Both use the sender's own `push()` client. Ingest and plain runs alternate.
4. Times the pieces of the largest size in-process (seal parts, verify, decrypt, pikepdf
   page check, file write + fsync) to show where the seconds go.

MB = 10^6 bytes. MB/s = envelope bytes / time. Ratio = plain MB/s / ingest MB/s, i.e. how
many times longer a full ingest takes than just writing the same bytes.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:  # `python bench/ingest.py` puts bench/ on sys.path, not the root
    sys.path.insert(0, _ROOT)

from appliance.devtools.webstack import WebStack  # noqa: E402 - needs the sys.path fix
from bench import common  # noqa: E402 - needs the sys.path fix above
from bench.common import KIND, MB, UNIT, alone, log, summary, timed  # noqa: E402

UPLOAD_PATH = "/bench/upload"
INGEST_PATH = "/api/v1/snapshots"
SERVER_START_TIMEOUT = 60.0

PUSH_TIMEOUT = 600.0
READ_CHUNK = 1024 * 1024  # same chunking as the ingest route's body reader


# ---------------------------------------------------------------- server side (--serve)


def bench_app(config):
    """The shipped app plus `POST /bench/upload`; built only inside the bench server."""
    from flask import jsonify, request

    from appliance.adapters.web import create_app

    app = create_app(config)
    uploads = config.state_dir / "bench-uploads"
    uploads.mkdir(exist_ok=True)

    @app.post(UPLOAD_PATH)
    def bench_upload():
        chunks, total = [], 0
        while chunk := request.stream.read(READ_CHUNK):
            total += len(chunk)
            chunks.append(chunk)
        body = b"".join(chunks)
        del chunks  # as the ingest route's reader: only the joined body stays alive
        # A new file each time, kept, as the store keeps each snapshot: overwriting one file
        # would reuse the page cache it just freed, which is much cheaper on some machines.
        with open(uploads / f"{uuid.uuid4().hex}.bin", "xb") as handle:
            handle.write(body)
            handle.flush()
            os.fsync(handle.fileno())
        return jsonify(bytes=total), 201

    return app


def run_server(config_path: str, socket_path: str) -> None:
    from appliance.adapters.web.server import serve
    from appliance.core.config.settings import load_appliance_config

    config = load_appliance_config(Path(config_path))
    serve(config, Path(socket_path), app_factory=lambda: bench_app(config))


def bench_server(config_path: Path, log_dir: Path) -> WebStack:
    """nginx in front of the launcher above, exactly as in production."""
    return WebStack(config_path, log_dir, serve_command=[
        sys.executable, str(Path(__file__).resolve()), "--serve", str(config_path)])


# ---------------------------------------------------------------- set-up


def make_bench_installation(root: Path):
    """A throwaway installation via the test suite's helper (the real CLI)."""
    from tests.conftest import make_installation

    inst = make_installation(root, common.KEEP_ALL_RETENTION)
    text = inst.appliance_toml.read_text(encoding="utf-8")
    text, count = re.subn(r"(?m)^max_snapshot_mb\s*=.*$", "max_snapshot_mb = 64", text)
    if count != 1:  # the [web] table exists already; appending a second one is invalid TOML
        text = text.replace("[web]\n", "[web]\nmax_snapshot_mb = 64\n", 1)
    inst.appliance_toml.write_text(text, encoding="utf-8")
    config = inst.config
    assert config.max_snapshot_bytes >= 64 * 1024 * 1024, config.max_snapshot_bytes
    assert config.keep_per_unit_kind == 10000
    return inst


def build_pdf(target_bytes: int, produced: datetime) -> tuple[bytes, int]:
    """A synthetic PDF of about `target_bytes`: page count from a two-point size probe."""
    from appliance.devtools.synthetic import make_document

    def make(pages: int) -> bytes:
        return make_document(KIND, produced_at=produced, pages=pages)

    small, large = len(make(10)), len(make(40))
    per_page = (large - small) / 30
    base = small - 10 * per_page
    pages = max(1, round((target_bytes - base) / per_page))
    content = make(pages)
    if abs(len(content) - target_bytes) > 0.02 * target_bytes:  # one correction step
        pages = max(1, round(pages * target_bytes / len(content)))
        content = make(pages)
    return content, pages


# ---------------------------------------------------------------- measuring


def bench_size(size_mb: int, repeat: int, inst, sender, recipient, url: str,
               log: Callable[[str], None]) -> dict:
    from appliance.core.crypto import seal
    from appliance.sender.client import push

    produced = datetime.now(UTC)
    build_s, (content, pages) = timed(lambda: build_pdf(size_mb * MB, produced))
    entry = seal.describe_document(KIND, UNIT, "Att göra-lista", produced, content)
    documents = [seal.Document(entry, content)]
    log(f"{size_mb} MB: PDF of {len(content)} bytes, {pages} pages (built in {build_s:.1f} s)")

    seal_s, ingest_s, plain_s, envelope = [], [], [], b""
    for run in range(1, repeat + 1):
        t0 = time.perf_counter()
        envelope = sender.seal_for(documents, recipient)
        t1 = time.perf_counter()
        result = push(url + INGEST_PATH, envelope, PUSH_TIMEOUT)
        t2 = time.perf_counter()
        if result.status != 201:
            raise RuntimeError(f"ingest refused: {result.status} {result.error} {result.message}")
        seal_s.append(t1 - t0)
        ingest_s.append(t2 - t0)

        t3 = time.perf_counter()
        result = push(url + UPLOAD_PATH, envelope, PUSH_TIMEOUT)
        t4 = time.perf_counter()
        if result.status != 201 or result.body.get("bytes") != len(envelope):
            raise RuntimeError(f"plain upload failed: {result.status} {result.body}")
        plain_s.append(t4 - t3)
        log(f"  run {run}: seal {t1 - t0:.3f} s, ingest {t2 - t0:.3f} s, "
            f"plain {t4 - t3:.3f} s")

    size = len(envelope)
    ingest, plain = summary(ingest_s), summary(plain_s)
    ingest_mbps = size / MB / ingest["median"]
    plain_mbps = size / MB / plain["median"]
    return {
        "size_mb": size_mb, "pdf_bytes": len(content), "pages": pages,
        "envelope_bytes": size, "seal_s": summary(seal_s), "ingest_s": ingest,
        "push_s": summary([i - s for i, s in zip(ingest_s, seal_s, strict=True)]),
        "plain_s": plain, "ingest_mb_per_s": ingest_mbps, "plain_mb_per_s": plain_mbps,
        "ratio": plain_mbps / ingest_mbps, "ratio_min": ingest["min"] / plain["min"],
        "_documents": documents, "_envelope": envelope,  # for the breakdown; not in JSON
    }


def breakdown(result: dict, repeat: int, inst, sender, recipient) -> list[dict]:
    """Time the pieces of one ingest in this process, each alone on the same bytes.

    Rows marked `sub` are parts of the row above them. `ingest()` is the appliance's whole
    ingest function called directly (it stores a snapshot in the throwaway installation).
    """
    from appliance.core.base.fsutil import atomic_write
    from appliance.core.crypto import keys, seal
    from appliance.core.intake.ingest import ingest
    from appliance.core.intake.pdf import PdfLimits, count_pages
    from appliance.core.services import Services
    from appliance.devtools.synthetic import make_document
    from appliance.sender.sequence import next_sequence

    config = inst.config
    services = Services(config)
    private = services.private_key
    documents, envelope = result["_documents"], result["_envelope"]
    content = documents[0].content
    max_payload = config.max_snapshot_bytes
    parsed = seal.parse(envelope, max_payload=max_payload)
    suite = keys.hpke_suite(recipient.suite)
    info = seal.hpke_info(parsed.header_span)
    payload = bytes(parsed.payload)
    signed = bytes(parsed.signed)
    scratch = config.state_dir / "bench-breakdown"
    scratch.mkdir(exist_ok=True)

    def plain_write(path: Path | None = None) -> None:
        with open(path or scratch / f"{uuid.uuid4().hex}.bin", "wb") as handle:
            handle.write(envelope)
            handle.flush()
            os.fsync(handle.fileno())

    def whole_ingest(docs: list[seal.Document] = documents) -> float:
        body = sender.seal_for(docs, recipient)  # a fresh sequence number; not timed
        return timed(lambda: ingest(services, body, "bench"))[0]

    page = make_document(KIND, produced_at=datetime.now(UTC), pages=1)
    small = [seal.Document(seal.describe_document(
        KIND, UNIT, "Att göra-lista", datetime.now(UTC), page), page)]

    steps: list[tuple[str, str, bool, Callable[[], float]]] = [
        ("sender", "seal_for total (as timed above)", False,
         alone(lambda: sender.seal_for(documents, recipient))),
        ("sender", "SHA-256 of the PDF (manifest check)", True,
         alone(lambda: hashlib.sha256(content).hexdigest())),
        ("sender", "HPKE encrypt (ML-KEM-768+X25519, AES-256-GCM)", True,
         alone(lambda: suite.encrypt(content, recipient.hpke_key(), info=info))),
        ("sender", "Ed25519 sign over the envelope", True,
         alone(lambda: sender.key.sign(signed))),
        ("sender", "next sequence number (atomic write of the counter file)", True,
         alone(lambda: next_sequence(sender.config.state_dir / "sequence"))),
        ("appliance", "ingest() total, in-process (no HTTP)", False, whole_ingest),
        ("appliance", "seal.parse", True, alone(lambda: seal.parse(envelope, max_payload))),
        ("appliance", "seal.verify_signature (Ed25519)", True,
         alone(lambda: seal.verify_signature(parsed, sender.key.public_key()))),
        ("appliance", "seal.decrypt (copy, HPKE, SHA-256, split)", True,
         alone(lambda: seal.decrypt(parsed, private))),
        ("appliance", "HPKE decrypt alone (part of seal.decrypt)", True,
         alone(lambda: suite.decrypt(payload, private.hpke_key(), info=info))),
        ("appliance", "pdf.count_pages (pikepdf open, every stream decoded with a cap)", True,
         alone(lambda: count_pages(content, PdfLimits.of(config)))),
        ("appliance", "store file: atomic_write (temp, fsync, rename, dir fsync)", True,
         alone(lambda: atomic_write(scratch / f"{uuid.uuid4().hex}.env", envelope, mode=0o640))),
        ("appliance", "ingest() of a 1-page snapshot (the fixed cost per ingest)", False,
         lambda: whole_ingest(small)),
        ("plain", "write + fsync to a new file (what /bench/upload does)", False,
         alone(plain_write)),
        ("reference", "write + fsync overwriting one file (reuses the page cache it frees)",
         False, alone(lambda: plain_write(scratch / "same.bin"))),
        ("reference", "one in-memory copy of the envelope (bytes slice)", False,
         alone(lambda: envelope[1:])),
    ]
    rows = []
    for side, name, sub, fn in steps:
        samples = [fn() for _ in range(repeat)]
        rows.append({"side": side, "step": name, "sub": sub, **summary(samples)})
    for path in scratch.iterdir():
        path.unlink()
    scratch.rmdir()
    return rows


# ---------------------------------------------------------------- reporting


def machine_info() -> dict:
    import cryptography
    import gunicorn
    import pikepdf
    from cryptography.hazmat.backends.openssl.backend import backend

    return common.describe_machine({
        "cryptography": cryptography.__version__, "openssl": backend.openssl_version_text(),
        "pikepdf": pikepdf.__version__, "qpdf": pikepdf.__libqpdf_version__,
        "gunicorn": gunicorn.__version__,
    })


def render(info: dict, results: list[dict], rows: list[dict], repeat: int, workers: int,
           tmp: Path, date: str) -> str:
    out = [
        f"## Ingest benchmark, {date}",
        "",
        f"{common.machine_line(info)}, cryptography {info['cryptography']} ({info['openssl']}), "
        f"pikepdf {info['pikepdf']} (qpdf {info['qpdf']}), gunicorn {info['gunicorn']} "
        f"({workers} sync workers). Store on the file system of `{tmp}`.",
        "",
        f"Repeat {repeat}; times are median / min in seconds; MB = 10^6 bytes; MB/s = envelope "
        "bytes / median time; ratio = plain MB/s / ingest MB/s.",
        "",
        *common.table(
            ["size", "envelope bytes", "seal s", "ingest s (median)", "ingest MB/s",
             "plain upload s", "plain MB/s", "ratio"],
            [[f"{r['size_mb']} MB ({r['pages']} p)", f"{r['envelope_bytes']:,}",
              common.median_min(r["seal_s"], 4), common.median_min(r["ingest_s"], 4),
              f"{r['ingest_mb_per_s']:.1f}", common.median_min(r["plain_s"], 4),
              f"{r['plain_mb_per_s']:.1f}", f"{r['ratio']:.1f}x"] for r in results]),
    ]
    fastest = ", ".join(f"{r['size_mb']} MB {r['ratio_min']:.1f}x" for r in results)
    out += ["", "Ratio from the fastest runs (fastest ingest time / fastest plain time; less "
            f"sensitive to one slow fsync): {fastest}."]
    if rows:
        big = results[-1]
        ingest_med = big["ingest_s"]["median"]

        def rate(row: dict) -> str:
            mbps = big["envelope_bytes"] / MB / max(row["median"], 1e-9)
            return "–" if row["step"].startswith("ingest() of a 1-page") else f"{mbps:.0f}"

        out += [
            "",
            f"Breakdown for the {big['size_mb']} MB case ({big['envelope_bytes']:,} envelope "
            f"bytes), each step timed alone in one process, median / min of {repeat}; share = "
            f"median / ingest median ({ingest_med:.3f} s):",
            "",
            *common.table(["side", "step", "s", "MB/s", "share of ingest"], [
                [row["side"], common.step_label(row["step"], int(row["sub"])),
                 common.median_min(row, 4), rate(row),
                 f"{100 * row['median'] / ingest_med:.0f}%"] for row in rows], left=2),
        ]
        by_step = {row["step"]: row["median"] for row in rows}
        seal_parts = sum(row["median"] for row in rows if row["side"] == "sender" and row["sub"])
        parts = sum(row["median"] for row in rows if row["side"] == "appliance" and row["sub"]
                    and not row["step"].startswith("HPKE decrypt alone"))
        whole = by_step["ingest() total, in-process (no HTTP)"]
        fixed = by_step["ingest() of a 1-page snapshot (the fixed cost per ingest)"]
        push_med = big["push_s"]["median"]
        out += [
            "",
            f"- Seal: the listed parts sum to {seal_parts:.3f} s of "
            f"{by_step['seal_for total (as timed above)']:.3f} s; the rest is building the "
            "envelope (header checks, two whole-envelope copies into fresh memory: payload "
            "appended to the header, signature appended to that).",
            f"- Appliance: the listed parts, each timed alone, sum to {parts:.3f} s; the whole "
            f"`ingest()` takes {whole:.3f} s in-process, of which about {fixed:.3f} s is the "
            "fixed cost of any ingest (SQLite connections and commit, audit entry, fsyncs, "
            "retention scan). Parts timed alone and inside `ingest()` differ by the state of "
            "the page cache and allocator, so the sum is only approximate.",
            f"- HTTP: the push part of the timed ingest (ingest - seal, median) is "
            f"{push_med:.3f} s, {push_med - whole:+.3f} s against `ingest()` in-process: moving "
            "and reading the body (loopback transfer, 1 MiB chunks, join) and the worker's "
            f"memory. The plain upload of the same bytes, write + fsync included, takes "
            f"{big['plain_s']['median']:.3f} s.",
        ]
    return "\n".join(out)


# ---------------------------------------------------------------- main


def parse_sizes(text: str) -> list[int]:
    return common.int_list(text, "sizes", 1, 60, unit="MB", note="the limit is 64 MiB")


def main(argv: list[str] | None = None) -> int:
    parser = common.make_parser("python -m bench.ingest", __doc__)
    parser.add_argument("--sizes", type=parse_sizes, default=[1, 10, 50],
                        help="snapshot sizes in MB (10^6 bytes), comma-separated (1,10,50)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per size (3)")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("--dir", type=Path, help="make the temp installation under this folder "
                        "(its file system is the one fsync'ed; default: the system temp dir)")
    parser.add_argument("--no-breakdown", action="store_true",
                        help="skip the in-process breakdown of the largest size")
    parser.add_argument("--keep", action="store_true", help="keep the temp installation")
    parser.add_argument("--serve", nargs=2, metavar=("CONFIG", "SOCKET"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.serve:
        run_server(args.serve[0], args.serve[1])
        return 0
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")

    common.unwind_on_termination()  # SIGTERM/SIGHUP: unwind, so `finally` stops the server
    date = common.today()
    with common.scratch_dir("bench-ingest-", args.keep, args.dir) as tmp:
        return run_benchmark(args, tmp, date)


def run_benchmark(args: argparse.Namespace, tmp: Path, date: str) -> int:
    """The benchmark proper, in the temp dir `tmp`: the server is stopped on the way out."""
    server = None
    try:
        inst = make_bench_installation(tmp / "inst")
        sender, recipient = inst.sender, inst.public_key()
        server = bench_server(inst.appliance_toml, tmp).start(SERVER_START_TIMEOUT)
        log(f"installation in {tmp}, server {server.url} (gunicorn pid {server.web.pid})")

        # Warm both sync workers (imports, SQLite, keys) so no timed run pays for it.
        from appliance.core.crypto import seal
        from appliance.devtools.synthetic import make_document
        from appliance.sender.client import push

        warm = make_document(KIND, produced_at=datetime.now(UTC), pages=2)
        entry = seal.describe_document(KIND, UNIT, "Att göra-lista", datetime.now(UTC), warm)
        for _ in range(2 * inst.config.web_workers):
            envelope = sender.seal_for([seal.Document(entry, warm)], recipient)
            for path in (INGEST_PATH, UPLOAD_PATH):
                result = push(server.url + path, envelope, PUSH_TIMEOUT)
                if result.status != 201:
                    raise RuntimeError(f"warm-up {path}: {result.status} {result.message}")

        results = [bench_size(size, args.repeat, inst, sender, recipient, server.url, log)
                   for size in sorted(args.sizes)]
        rows = [] if args.no_breakdown else breakdown(results[-1], args.repeat, inst, sender,
                                                      recipient)
        info = machine_info()
        text = render(info, results, rows, args.repeat, inst.config.web_workers, tmp, date)
        print(text)
        if args.json:
            clean = [{k: v for k, v in r.items() if not k.startswith("_")} for r in results]
            common.write_json(args.json, {
                "date": date, "machine": info, "repeat": args.repeat,
                "web_workers": inst.config.web_workers, "mb": MB, "sizes": clean,
                "breakdown": rows, "breakdown_size_mb": results[-1]["size_mb"] if rows else None,
            })
    except Exception:
        if server is not None:
            log(f"--- server log (tail) ---\n{server.log()[-4000:]}")
        raise
    finally:
        if server is not None:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
