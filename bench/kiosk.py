"""Benchmark: the kiosk page in Debian's Chromium: page ready, page weight, and a press on
the screen to CUPS accepting the kit, side by side with the physical button.

Run from the repository root:

    .venv/bin/python -m bench.kiosk                        # repeat 10
    .venv/bin/python -m bench.kiosk --repeat 5 --json results.json

What one run does:

1. Starts a private cupsd with one capture queue, a throwaway installation printing to it
   (`[panel] repeat_guard_seconds = 0`, so kit after kit is allowed once the last one has
   completed) with one synthetic 20-page to-do list, and the web service as production
   runs it (nginx + `appliance serve`, `appliance.devtools.webstack`), with `CUPS_SERVER`
   pointing at the private cupsd.
2. Page ready: `--repeat` times, a new Chromium context (empty cache, new renderer: as
   after a reboot) opens `/kiosk` at 800x480, then `--repeat` times one page loads it
   again (as the kiosk does after the web service restarted). Reported: first contentful
   paint and DOMContentLoaded from the page's own Performance API, and the page weight: the
   transfer size of the document and every resource it loaded (headers included).
3. Press to accepted, `--repeat` times each, alternating: the screen (Playwright clicks
   "Skriv ut att göra-listan") and the physical button (`appliance panel --simulate`, the
   shipped daemon with MockFactory pins, sent `press` on stdin). Both end at the same
   observable moment: the `printed` line in the audit log, which the print service writes
   right after CUPS has accepted the job. For the screen, the POST's answer is reported
   too. Between presses, untimed, the job is left to complete and the guard's record to
   clear. The audit log is polled every 2 ms.

Numbers are median / min / max in milliseconds. Not a test: it never fails on a time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from bench import common  # noqa: E402

QUEUE = "bench_kiosk"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
BUTTON = "Skriv ut att göra-listan"
PAGES = 20
PAINT_AND_WEIGHT = """() => {
    const nav = performance.getEntriesByType('navigation')[0];
    const paint = performance.getEntriesByName('first-contentful-paint')[0];
    const resources = performance.getEntriesByType('resource');
    return {fcp: paint ? paint.startTime : null, dcl: nav.domContentLoadedEventEnd,
            bytes: nav.transferSize + resources.reduce((sum, r) => sum + r.transferSize, 0),
            files: 1 + resources.length};
}"""


def printed_count(audit: Path) -> int:
    with open(audit, encoding="utf-8") as handle:
        return sum(1 for line in handle if json.loads(line)["event"] == "printed")


def wait_printed(audit: Path, before: int, timeout: float = common.JOB_TIMEOUT) -> float:
    deadline = time.monotonic() + timeout
    while printed_count(audit) <= before:
        if time.monotonic() > deadline:
            raise RuntimeError("no `printed` audit entry in time")
        time.sleep(0.002)
    return time.perf_counter()


def page_ready(browser, url: str, repeat: int, *, fresh: bool) -> dict:
    """`fresh`: a new context each time (empty cache, new renderer: after a reboot);
    otherwise a reload in one page (the kiosk after the web service restarted)."""
    samples: dict[str, list[float]] = {"fcp": [], "dcl": [], "bytes": [], "files": []}
    context = browser.new_context(viewport={"width": 800, "height": 480})
    page = context.new_page()
    for _ in range(repeat):
        if fresh:
            context.close()
            context = browser.new_context(viewport={"width": 800, "height": 480})
            page = context.new_page()
        page.goto(url + "/kiosk", wait_until="load")
        measured = page.evaluate(PAINT_AND_WEIGHT)
        while measured["fcp"] is None:  # evaluate, not wait_for_function: the CSP forbids eval
            page.wait_for_timeout(10)
            measured = page.evaluate(PAINT_AND_WEIGHT)
        for key in samples:
            samples[key].append(measured[key])
    context.close()
    return {key: common.summary(values, with_max=True) for key, values in samples.items()}


def press_to_accepted(browser, url: str, inst, cupsd, capture, repeat: int) -> dict:
    audit = inst.state_dir / "audit.log"
    page = browser.new_page(viewport={"width": 800, "height": 480})
    panel = subprocess.Popen(
        [str(common.REPO / ".venv" / "bin" / "appliance"), "--config", str(inst.appliance_toml),
         "panel", "--simulate"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env={**os.environ, **cupsd.env()})
    service = common.print_service(inst.config, common.bench_printer(cupsd, QUEUE))
    samples: dict[str, list[float]] = {"screen": [], "screen_answer": [], "button": []}
    try:
        panel.stdout.readline()  # its first `led:` line: the daemon is running
        for _ in range(repeat):
            for source in ("screen", "button"):
                before = printed_count(audit)
                if source == "screen":
                    page.goto(url + "/kiosk")  # the overview again, untimed
                    with page.expect_response(lambda r: "/kiosk/print" in r.url) as answer:
                        start = time.perf_counter()
                        page.get_by_role("button", name=BUTTON).click()
                    answered = time.perf_counter()
                    if answer.value.json()["outcome"] != "started":
                        raise RuntimeError(f"screen press not started: {answer.value.json()}")
                    samples["screen_answer"].append((answered - start) * 1000)
                else:
                    start = time.perf_counter()
                    panel.stdin.write("press\n")
                    panel.stdin.flush()
                samples[source].append((wait_printed(audit, before) - start) * 1000)
                job = json.loads(audit.read_text().splitlines()[-1])["job"]
                common.settle(cupsd, capture, job)
                service.wait(job, timeout=common.JOB_TIMEOUT, poll=0.05)  # clears the guard
        panel.stdin.write("quit\n")
        panel.stdin.flush()
        panel.wait(timeout=30)
    finally:
        panel.kill()
        page.close()
    return {key: common.summary(values, with_max=True) for key, values in samples.items()}


def render(info: dict, ready: dict, reload: dict, press: dict, repeat: int) -> str:
    def ms(entry: dict) -> str:
        return f"{entry['median']:.0f} / {entry['min']:.0f} / {entry['max']:.0f}"

    lines = [f"Kiosk benchmark, {common.today()}, repeat {repeat}",
             common.machine_line(info) + f"; Chromium {info['chromium']}", "",
             *common.table(["measure", "median / min / max"], [
                 ("first contentful paint, new context (ms)", ms(ready["fcp"])),
                 ("DOMContentLoaded, new context (ms)", ms(ready["dcl"])),
                 ("page weight, new context (bytes)", ms(ready["bytes"])),
                 ("files loaded, new context", ms(ready["files"])),
                 ("first contentful paint, reload (ms)", ms(reload["fcp"])),
                 ("page weight, reload (bytes)", ms(reload["bytes"])),
                 ("screen press -> printed audited (ms)", ms(press["screen"])),
                 ("screen press -> POST answered (ms)", ms(press["screen_answer"])),
                 ("button press -> printed audited (ms)", ms(press["button"])),
             ])]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = common.make_parser("python -m bench.kiosk", __doc__)
    parser.add_argument("--repeat", type=int, default=10, help="runs of each measure (10)")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("--keep", action="store_true",
                        help="keep the temp installation and the private cupsd's dir")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    from appliance.devtools.webstack import WebStack

    common.unwind_on_termination()
    with (common.scratch_dir("bench-kiosk-", args.keep) as tmp,
          common.private_cups(QUEUE, args.keep) as (cupsd, capture)):
        inst = common.make_printing_installation(tmp / "inst", capture.name,
                                                 common.NO_REPEAT_GUARD)
        inst.ingest(inst.envelope(pages=PAGES))
        os.environ.update(cupsd.env())  # for `appliance serve`, as CUPS_SERVER on a Pi
        server = WebStack(inst.appliance_toml, tmp).start()
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM,
                                                     args=CHROMIUM_ARGS)
                page_ready(browser, server.url, 2, fresh=True)  # warm up the server
                ready = page_ready(browser, server.url, args.repeat, fresh=True)
                reload = page_ready(browser, server.url, args.repeat, fresh=False)
                press = press_to_accepted(browser, server.url, inst, cupsd, capture, args.repeat)
                info = common.describe_machine({"chromium": browser.version})
                browser.close()
        finally:
            server.stop()
    print(render(info, ready, reload, press, args.repeat))
    if args.json:
        common.write_json(args.json, {"machine": info, "repeat": args.repeat,
                                      "page_ready": ready, "page_reload": reload,
                                      "press": press})
    return 0


if __name__ == "__main__":
    sys.exit(main())
