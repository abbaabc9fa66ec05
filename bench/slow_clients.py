"""Benchmark: /healthz and snapshot push latency while 50 slow clients attack the web service.

Run from the repository root:

    .venv/bin/python -m bench.slow_clients                        # proxy, defaults, 30 s
    .venv/bin/python -m bench.slow_clients --body-timeout 1 --seconds 20
    .venv/bin/python -m bench.slow_clients --modes proxy,direct --json results.json

What one run does, for each mode:

1. Sets up a throwaway installation (appliance + enrolled sender) with the real CLI in a
   temp dir, with `web.header_timeout_seconds`, `web.body_timeout_seconds` and
   `web.max_connections_per_client` from the options (defaults: the shipped defaults).
2. Starts the web service. `proxy`: as production runs it (appliance.devtools.webstack:
   nginx from the one template, in front of `appliance serve` on a Unix socket). `direct`:
   gunicorn's sync workers alone on TCP, as the appliance ran before nginx (`web.workers`
   workers, `web.timeout_seconds`), for comparison.
3. Starts the attack (appliance.devtools.slow_clients): `--clients` connections, half
   dribbling the request line and headers, half sending complete headers and then
   dribbling the body, one byte every `--interval` seconds, each from its own loopback
   address; a connection the server closes is replaced at once.
4. For `--seconds`, every `--probe-interval` seconds: GET /healthz, and every fourth time
   also a push of a sealed 1-page to-do list (sealed beforehand: only the HTTP round trip
   is timed). A probe that takes longer than `--probe-timeout` counts as failed.
5. Reports per mode: probe latencies (median, 95th percentile, max) and failures; how many
   slow connections the server cut, how long they had lived, and the age of those still
   open at the end.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:  # `python bench/slow_clients.py` puts bench/ on sys.path
    sys.path.insert(0, _ROOT)

from appliance.devtools.slow_clients import BODY, HEADERS, SlowClients  # noqa: E402
from appliance.devtools.webstack import (  # noqa: E402
    WebStack,
    answers_health_check,
    free_port,
    nginx_binary,
    wait_until,
)
from bench import common  # noqa: E402 - needs the sys.path fix above
from bench.common import log  # noqa: E402

HEALTH_BOUND, PUSH_BOUND = 1.0, 2.0  # the bounds, seconds
MODES = ("proxy", "direct")


def baseline_app():
    """`direct` mode's app for gunicorn's command line (config from $APPLIANCE_CONFIG)."""
    from appliance.adapters.web import create_app
    from appliance.core.config.settings import load_appliance_config

    return create_app(load_appliance_config(os.environ["APPLIANCE_CONFIG"]))


class DirectGunicorn(WebStack):
    """gunicorn's sync workers alone on 127.0.0.1, no proxy: the appliance before nginx."""

    def start(self, timeout: float = 30.0) -> DirectGunicorn:
        from appliance.core.config.settings import load_appliance_config

        config = load_appliance_config(self.config_path)
        os.environ["APPLIANCE_CONFIG"] = str(self.config_path)
        self.processes = [self._spawn([
            str(Path(sys.executable).parent / "gunicorn"), "--chdir", _ROOT,
            "--bind", f"127.0.0.1:{self.port}", "--workers", str(config.web_workers),
            "--worker-class", "sync", "--timeout", str(config.web_timeout_seconds),
            "--no-control-socket", "bench.slow_clients:baseline_app()"])]
        wait_until(lambda: answers_health_check(self.url), self.processes,
                   time.monotonic() + timeout)
        return self


def make_installation(root: Path, args):
    """The options' [web] settings; those not given keep the shipped defaults."""
    from tests.conftest import make_installation as make

    inst = make(root, common.KEEP_ALL_RETENTION)
    given = {"header_timeout_seconds": args.header_timeout,
             "body_timeout_seconds": args.body_timeout,
             "max_connections_per_client": args.per_client}
    lines = "".join(f"{key} = {value}\n" for key, value in given.items() if value is not None)
    text = inst.appliance_toml.read_text()
    inst.appliance_toml.write_text(text.replace("[web]\n", "[web]\n" + lines, 1))
    return inst


def probe(call: Callable[[], bool], timeout: float) -> tuple[float, bool]:
    """Seconds the call took and whether it got its expected answer in time."""
    start = time.monotonic()
    ok = call()
    seconds = time.monotonic() - start
    return seconds, ok and seconds < timeout


def run_mode(mode: str, args, root: Path) -> dict:
    from appliance.sender.client import push

    inst = make_installation(root / mode, args)
    envelopes = [inst.envelope(pages=1)
                 for _ in range(int(args.seconds / args.probe_interval / 4) + 1)]
    server_class = WebStack if mode == "proxy" else DirectGunicorn
    server = server_class(inst.appliance_toml, root, port=free_port()).start()
    health, pushes, open_counts = [], [], []
    try:
        attack = SlowClients(server.port, headers=args.clients // 2,
                             body=args.clients - args.clients // 2,
                             interval=args.interval).start()
        started = time.monotonic()
        try:
            next_probe = started
            while time.monotonic() < started + args.seconds:
                open_counts.append(attack.open_count())
                health.append(probe(lambda: answers_health_check(server.url,
                                                                 args.probe_timeout),
                                    args.probe_timeout))
                if len(health) % 4 == 0 and envelopes:
                    envelope = envelopes.pop(0)
                    pushes.append(probe(lambda envelope=envelope: push(
                        server.url + "/api/v1/snapshots", envelope,
                        args.probe_timeout).status == 201, args.probe_timeout))
                next_probe += args.probe_interval
                time.sleep(max(0.0, next_probe - time.monotonic()))  # pacing
        finally:
            connections = attack.stop()
        ended = time.monotonic()
    finally:
        server.stop()
    slow = {}
    for kind in (HEADERS, BODY):
        mine = [c for c in connections if c.kind == kind]
        cut = [c.lifetime(ended) for c in mine if c.closed is not None]
        still_open = [c.lifetime(ended) for c in mine if c.closed is None]
        slow[kind] = {"cut": len(cut), "cut_lifetimes": cut, "still_open": still_open,
                      "answered": sum(1 for c in mine if c.answer)}
    config = inst.config
    return {"mode": mode, "health": health, "pushes": pushes, "slow": slow,
            "open_min": min(open_counts), "open_max": max(open_counts),
            "settings": {"web.header_timeout_seconds": config.web_header_timeout_seconds,
                         "web.body_timeout_seconds": config.web_body_timeout_seconds,
                         "web.max_connections_per_client":
                             config.web_max_connections_per_client}}


def latency_row(name: str, samples: list[tuple[float, bool]], bound: float) -> list[str]:
    times = sorted(seconds for seconds, _ in samples)
    failed = sum(1 for _, ok in samples if not ok)
    p95 = times[min(len(times) - 1, int(0.95 * len(times)))]
    return [name, str(len(samples)), f"{statistics.median(times) * 1000:.1f}",
            f"{p95 * 1000:.1f}", f"{times[-1] * 1000:.1f}", str(failed),
            "yes" if failed == 0 and times[-1] < bound else "**no**"]


def render(results: list[dict], args, info: dict) -> str:
    lines = [f"{common.machine_line(info)}; nginx {info['nginx']}. Load average at the end: "
             f"{common.load_average()}.",
             f"Attack: {args.clients} slow clients ({args.clients // 2} dribbling headers, "
             f"{args.clients - args.clients // 2} dribbling a body), 1 byte every "
             f"{args.interval:g} s, {args.seconds:g} s; "
             + ", ".join(f"{key} = {value}" for key, value in results[0]["settings"].items())
             + ".", ""]
    for result in results:
        lines += [f"**{result['mode']}** (slow connections open at each probe: "
                  f"{result['open_min']}–{result['open_max']})", ""]
        lines += common.table(
            ["probe", "n", "median ms", "p95 ms", "max ms", "failed", "within bound"],
            [latency_row(f"GET /healthz (bound {HEALTH_BOUND:g} s)", result["health"],
                         HEALTH_BOUND),
             latency_row(f"push (bound {PUSH_BOUND:g} s)", result["pushes"], PUSH_BOUND)])
        lines.append("")
        rows = []
        for kind, slow in result["slow"].items():
            cut = sorted(slow["cut_lifetimes"])
            still = sorted(slow["still_open"])
            rows.append([kind, str(slow["cut"]),
                         f"{cut[0]:.1f} / {statistics.median(cut):.1f} / {cut[-1]:.1f}"
                         if cut else "–", str(slow["answered"]),
                         f"{len(still)}, oldest {still[-1]:.1f} s" if still else "0"])
        lines += common.table(["slow clients", "cut by the server", "lived s (min / median / "
                               "max)", "got an answer", "still open at the end"], rows)
        lines.append("")
    return "\n".join(lines)


def nginx_version() -> str:
    import subprocess

    result = subprocess.run([nginx_binary(), "-v"], capture_output=True, text=True)
    return result.stderr.strip().rpartition("/")[2]


def main(argv: list[str] | None = None) -> int:
    parser = common.make_parser("bench.slow_clients", __doc__)
    parser.add_argument("--modes", default="proxy",
                        help=f"comma-separated, of {', '.join(MODES)} (proxy)")
    parser.add_argument("--clients", type=int, default=50, help="slow clients (50)")
    parser.add_argument("--interval", type=float, default=2.0,
                        help="seconds between a slow client's bytes (2)")
    parser.add_argument("--seconds", type=float, default=30.0, help="attack length (30)")
    parser.add_argument("--header-timeout", type=int,
                        help="web.header_timeout_seconds (default: the shipped default)")
    parser.add_argument("--body-timeout", type=int,
                        help="web.body_timeout_seconds (default: the shipped default)")
    parser.add_argument("--per-client", type=int,
                        help="web.max_connections_per_client (default: the shipped default)")
    parser.add_argument("--probe-interval", type=float, default=0.25,
                        help="seconds between probes (0.25)")
    parser.add_argument("--probe-timeout", type=float, default=5.0,
                        help="a probe slower than this fails (5)")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("--keep", action="store_true", help="keep the temp installation")
    args = parser.parse_args(argv)
    modes = [m for m in args.modes.split(",") if m]
    if not modes or set(modes) - set(MODES):
        parser.error(f"--modes must name {' or '.join(MODES)}")

    common.unwind_on_termination()
    info = common.describe_machine({"nginx": nginx_version()})
    with common.scratch_dir("bench-slow-clients-", args.keep) as tmp:
        results = []
        for mode in modes:
            log(f"{mode}: {args.clients} slow clients for {args.seconds:g} s")
            results.append(run_mode(mode, args, tmp))
    print(render(results, args, info))
    if args.json:
        common.write_json(args.json, {"date": common.today(), "machine": info,
                                      "options": vars(args) | {"json": str(args.json)},
                                      "results": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
