"""A private, real cupsd for tests, with capture queues that can simulate printer faults.

    with PrivateCups() as cupsd:
        queue = cupsd.add_capture_queue("lista")
        job_id = cupsd.lp(queue.name, pdf_path, title="Lista 1")
        job = cupsd.wait_for(lambda: queue.captured_job(job_id), timeout=10)
        assert job.data == pdf_path.read_bytes()

Everything (config, spool, logs, state, the Unix socket) lives in one temp dir under /tmp;
cupsd runs in the foreground as a child of the test process and listens only on
<tmp>/cups.sock (and, with `ipp_port`, on 127.0.0.1:<port>: then it is a network IPP printer
that another private cupsd's queue can print to, and that stop() switches off).
Point CUPS clients at it with CUPS_SERVER=<socket> (`cupsd.env()`), or
with pycups via `cupsd.connect()` / `cups.setServer(cupsd.server)`.

Works as root (the CI case) and as an ordinary user; see docs/testing-with-cups.md for the
configuration, the observed fault behaviour and the pitfalls. Run this module to get a
private cupsd to play with from a shell:  python -m appliance.devtools.cups_harness.harness
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

HERE = Path(__file__).resolve().parent
CAPTURE_BACKEND = HERE / "capture-backend"
SYSTEM_SERVERBIN = Path("/usr/lib/cups")
SYSTEM_DATADIR = Path("/usr/share/cups")
SBIN_DIRS = ("/usr/sbin", "/sbin", "/usr/local/sbin")
# System backends the private cupsd may run: those that print to one given device. Not
# dnssd/mdns/snmp/driverless, which browse or scan the network when asked for devices.
SYSTEM_BACKENDS = ("ipp", "ipps", "http", "https", "socket", "lpd", "usb")
MAX_UNIX_SOCKET_PATH = 107  # sizeof(sun_path) - 1 on Linux

_PR_SET_PDEATHSIG = 1


class CupsHarnessError(RuntimeError):
    """The private cupsd could not be set up, started or used."""


def _search_path() -> str:
    """PATH plus the sbin dirs: cupsd, lpadmin, cupsenable live there, often not on PATH."""
    return os.pathsep.join([os.environ.get("PATH", "/usr/bin:/bin"), *SBIN_DIRS])


def find_tool(name: str) -> str | None:
    return shutil.which(name, path=_search_path())


def find_cupsd() -> str | None:
    return find_tool("cupsd")


def unavailable_reason() -> str | None:
    """Why a private cupsd cannot run here (for pytest.skip), or None if it can."""
    missing = []
    if find_cupsd() is None:
        missing.append("cupsd (Debian package cups-daemon)")
    if find_tool("lpadmin") is None or find_tool("lp") is None:
        missing.append("lp/lpadmin (Debian package cups-client)")
    if not (SYSTEM_SERVERBIN / "daemon" / "cups-exec").exists():
        missing.append(f"{SYSTEM_SERVERBIN}/daemon/cups-exec (cups-daemon)")
    if not Path("/usr/bin/python3").exists():
        missing.append("/usr/bin/python3 (runs the capture backend)")
    return ("missing " + ", ".join(missing)) if missing else None


def backend_unavailable_reason(scheme: str) -> str | None:
    """Why the system's backend for SCHEME cannot be used (for pytest.skip), or None."""
    if scheme not in SYSTEM_BACKENDS:
        return f"backend {scheme!r} is not one the harness links in (SYSTEM_BACKENDS)"
    if not (SYSTEM_SERVERBIN / "backend" / scheme).exists():
        package = "cups" if scheme in ("usb", "socket", "lpd") else "cups-daemon"
        return f"missing {SYSTEM_SERVERBIN}/backend/{scheme} (Debian package {package})"
    return None


@dataclass(frozen=True)
class CapturedJob:
    """One delivery of a job to a capture queue: the PDF bytes and the sidecar metadata."""

    path: Path
    meta: dict[str, Any]

    @property
    def job_id(self) -> int:
        return int(self.meta["job_id"])

    @property
    def title(self) -> str:
        return str(self.meta["title"])

    @property
    def user(self) -> str:
        return str(self.meta["user"])

    @property
    def data(self) -> bytes:
        return self.path.read_bytes()


@dataclass
class CaptureQueue:
    """A raw queue whose device is the capture backend."""

    name: str
    out_dir: Path
    fault_flag: Path
    mode: str
    device_uri: str
    cupsd: PrivateCups = field(repr=False)

    def set_fault(self, keyword: str = "media-empty") -> None:
        """Make the "printer" fail with this printer-state-reasons keyword from now on.

        A keyword without -error/-warning/-report is reported as <keyword>-error.
        """
        tmp = self.fault_flag.with_suffix(".tmp")
        tmp.write_text(keyword + "\n", encoding="utf-8")
        os.replace(tmp, self.fault_flag)

    def clear_fault(self) -> None:
        self.fault_flag.unlink(missing_ok=True)

    def captured(self) -> list[CapturedJob]:
        return self.cupsd.captured(self.name)

    def captured_job(self, job_id: int) -> CapturedJob | None:
        """The delivery of job_id, or None while there is none (for wait_for)."""
        found = [c for c in self.captured() if c.job_id == job_id]
        return found[0] if found else None


class PrivateCups:
    """A private cupsd in a temp dir, listening on a Unix socket only.

    Use as a context manager (or call start() and close()). stop() and start() may be
    called any number of times in between to simulate the print server going away; the
    config, queues, spool and job history survive a restart.
    """

    def __init__(
        self,
        *,
        job_retry_interval: int = 1,
        job_retry_limit: int = 0,
        error_policy: str = "retry-job",
        preserve_job_history: str = "Yes",
        max_jobs: int = 500,
        log_level: str = "debug",
        extra_cupsd_conf: str = "",
        start_timeout: float = 15.0,
        keep: bool | None = None,
        ipp_port: int | None = None,
    ) -> None:
        self.job_retry_interval = job_retry_interval
        self.job_retry_limit = job_retry_limit
        self.error_policy = error_policy
        self.preserve_job_history = preserve_job_history
        self.max_jobs = max_jobs
        self.log_level = log_level
        self.extra_cupsd_conf = extra_cupsd_conf
        self.start_timeout = start_timeout
        self.keep = bool(os.environ.get("CUPS_HARNESS_KEEP")) if keep is None else keep
        self.ipp_port = ipp_port
        self.root: Path | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.queues: dict[str, CaptureQueue] = {}
        self.last_start_seconds: float | None = None

    # ----------------------------------------------------------------- layout

    def _path(self, *parts: str) -> Path:
        if self.root is None:
            raise CupsHarnessError("PrivateCups has not been set up; call start() first")
        return self.root.joinpath(*parts)

    @property
    def server(self) -> str:
        """The Unix socket path: the value for CUPS_SERVER and cups.setServer()."""
        return str(self._path("cups.sock"))

    @property
    def conf_dir(self) -> Path:  # ServerRoot
        return self._path("etc")

    @property
    def spool_dir(self) -> Path:  # RequestRoot
        return self._path("spool")

    @property
    def log_dir(self) -> Path:
        return self._path("log")

    @property
    def error_log(self) -> Path:
        return self._path("log", "error_log")

    @property
    def serverbin(self) -> Path:
        return self._path("lib")

    def _setup(self) -> None:
        reason = unavailable_reason()
        if reason:
            raise CupsHarnessError(f"cannot run a private cupsd: {reason}")
        # Short path: the socket path must fit in sun_path (107 bytes).
        self.root = Path(tempfile.mkdtemp(prefix="cups-", dir="/tmp"))
        if len(self.server.encode()) > MAX_UNIX_SOCKET_PATH:
            raise CupsHarnessError(f"socket path too long for AF_UNIX: {self.server}")
        # Traversable by everyone: when cupsd runs as root it runs filters (and backends that
        # are not mode 0700) as User lp, which must reach ServerBin, the spool and TempDir.
        os.chmod(self.root, 0o755)
        for sub in ("etc", "spool", "spool/tmp", "cache", "state", "log", "capture", "faults"):
            self._path(sub).mkdir(parents=True, exist_ok=True)
        self._make_serverbin()
        self._make_datadir()
        self._write_config()

    def _make_serverbin(self) -> None:
        """ServerBin = symlinks to the system's helpers plus our backend/capture.

        backend/ is a real dir (symlinks to the system backends in SYSTEM_BACKENDS that are
        installed, + a copy of capture-backend) so the system's /usr/lib/cups stays untouched.
        cupsd (as root) runs a backend as root
        when it has no world read/execute bits, and refuses backends that are not owned by
        root or are group/world writable: a fresh copy made by root with mode 0700 passes.
        """
        serverbin = self.serverbin
        serverbin.mkdir(mode=0o755)
        for entry in sorted(SYSTEM_SERVERBIN.iterdir()):
            if entry.name != "backend":
                (serverbin / entry.name).symlink_to(entry)
        backend_dir = serverbin / "backend"
        backend_dir.mkdir(mode=0o755)
        for name in SYSTEM_BACKENDS:
            system_backend = SYSTEM_SERVERBIN / "backend" / name
            if system_backend.exists():
                (backend_dir / name).symlink_to(system_backend)
        capture = backend_dir / "capture"
        shutil.copyfile(CAPTURE_BACKEND, capture)
        os.chmod(capture, 0o700)

    def _make_datadir(self) -> None:
        """DataDir = symlinks to /usr/share/cups, plus an empty banners/ if it is missing.

        With only cups-daemon installed there is no banners/ and cupsd logs an error for it.
        """
        datadir = self._path("share")
        datadir.mkdir(mode=0o755)
        for entry in sorted(SYSTEM_DATADIR.iterdir()):
            (datadir / entry.name).symlink_to(entry)
        if not (datadir / "banners").exists():
            (datadir / "banners").mkdir(mode=0o755)

    def _write_config(self) -> None:
        root = self.root
        assert root is not None
        (self.conf_dir / "cups-files.conf").write_text(
            f"""\
# Private cupsd for tests, written by appliance/devtools/cups_harness/harness.py.
ServerRoot {root}/etc
ServerBin {root}/lib
DataDir {root}/share
RequestRoot {root}/spool
TempDir {root}/spool/tmp
CacheDir {root}/cache
StateDir {root}/state
AccessLog {root}/log/access_log
ErrorLog {root}/log/error_log
PageLog {root}/log/page_log
Printcap {root}/etc/printcap
""",
            encoding="utf-8",
        )
        (self.conf_dir / "cupsd.conf").write_text(
            f"""\
# Private cupsd for tests, written by appliance/devtools/cups_harness/harness.py.
Listen {self.server}
{f"Listen 127.0.0.1:{self.ipp_port}" if self.ipp_port else ""}
Browsing No
BrowseLocalProtocols none
DefaultShared No
WebInterface No
LogLevel {self.log_level}
MaxLogSize 0
LogTimeFormat usecs
PreserveJobHistory {self.preserve_job_history}
PreserveJobFiles No
MaxJobs {self.max_jobs}
ErrorPolicy {self.error_policy}
JobRetryInterval {self.job_retry_interval}
JobRetryLimit {self.job_retry_limit}
<Policy default>
  JobPrivateAccess default
  JobPrivateValues none
  SubscriptionPrivateAccess default
  SubscriptionPrivateValues none
  <Limit All>
    Order deny,allow
  </Limit>
</Policy>
{self.extra_cupsd_conf}
""",
            encoding="utf-8",
        )

    # ---------------------------------------------------------------- process

    def _cupsd_command(self, mode: str = "-f") -> list[str]:
        """cupsd in the foreground (-f) or testing the config (-t). Paths must be absolute."""
        cupsd = find_cupsd()
        assert cupsd is not None
        conf, files = self.conf_dir / "cupsd.conf", self.conf_dir / "cups-files.conf"
        return [cupsd, mode, "-c", str(conf), "-s", str(files)]

    def check_config(self) -> str:
        """Run `cupsd -t` on the private config; returns its output, raises if it is bad."""
        if self.root is None:
            self._setup()
        result = subprocess.run(
            self._cupsd_command("-t"),
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise CupsHarnessError(
                f"cupsd refuses the private configuration ({self.conf_dir}), "
                f"cupsd -t says:\n{(result.stdout + result.stderr).strip()}"
            )
        return result.stdout + result.stderr

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        """Start cupsd (setting the temp dir up the first time) and wait until it answers."""
        if self.running:
            return
        if self.root is None:
            self._setup()
        self.check_config()  # a refused config fails here, in cupsd's own words
        started = time.monotonic()
        stdout = open(self.log_dir / "cupsd.out", "ab")  # noqa: SIM115 - handed to Popen
        try:
            self.proc = subprocess.Popen(
                self._cupsd_command(),
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,  # no orphaned cupsd if the test run is killed
                env=self._cupsd_env(),
            )
        finally:
            stdout.close()
        try:
            self.wait_for(self._answers, timeout=self.start_timeout, what="cupsd to answer")
        except BaseException:
            self.stop()
            raise
        self.last_start_seconds = time.monotonic() - started

    def _cupsd_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CUPS_")}
        env["PATH"] = _search_path()
        env.setdefault("LANG", "C.UTF-8")
        return env

    def _answers(self) -> bool:
        if not self.running:
            out = (self.log_dir / "cupsd.out").read_text(errors="replace")
            raise CupsHarnessError(
                f"cupsd exited with {self.proc.returncode if self.proc else '?'}:\n{out}"
                f"\n--- error_log ---\n{self.error_log_tail()}"
            )
        if not Path(self.server).exists():
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(1.0)
                sock.connect(self.server)
        except OSError:
            return False
        # Connectable; now a real IPP round trip.
        result = self.run("lpstat", "-r", check=False)
        return result.returncode == 0 and "is running" in result.stdout

    def stop(self, timeout: float = 10.0) -> None:
        """Stop cupsd (SIGTERM, then SIGKILL); the temp dir and its state are kept."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=timeout)

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop cupsd and remove the temp dir (kept if keep=True or CUPS_HARNESS_KEEP=1)."""
        self.stop()
        if self.root is not None and not self.keep:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def __enter__(self) -> PrivateCups:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- clients

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """Environment for CUPS client subprocesses (lp, lpstat, the appliance...)."""
        env = dict(os.environ if base is None else base)
        env["CUPS_SERVER"] = self.server
        env["PATH"] = os.pathsep.join([env.get("PATH", "/usr/bin:/bin"), *SBIN_DIRS])
        env.setdefault("LANG", "C.UTF-8")
        return env

    def run(self, *args: str, check: bool = True, timeout: float = 30.0):
        """Run a CUPS command-line tool against this server; raises on failure if check."""
        tool = find_tool(args[0]) or args[0]
        result = subprocess.run(
            [tool, *args[1:]], env=self.env(), capture_output=True, text=True, timeout=timeout
        )
        if check and result.returncode != 0:
            raise CupsHarnessError(
                f"{' '.join(args)} exited {result.returncode}: {result.stderr.strip()}"
            )
        return result

    def lp(
        self,
        queue: str,
        path: os.PathLike[str] | str,
        *,
        title: str | None = None,
        options: dict[str, str] | None = None,
    ) -> int:
        """Submit a file with `lp`; returns the job id."""
        args = ["lp", "-d", queue]
        if title is not None:
            args += ["-t", title]
        for key, value in (options or {}).items():
            args += ["-o", f"{key}={value}"]
        result = self.run(*args, "--", str(path))
        match = re.search(r"request id is \S+-(\d+)", result.stdout)
        if not match:
            raise CupsHarnessError(f"unexpected lp output: {result.stdout!r}")
        return int(match.group(1))

    def ipp_uri(self, queue: str) -> str:
        """The device URI another cupsd's `ipp` backend prints to QUEUE on this one with
        (needs `ipp_port`)."""
        if not self.ipp_port:
            raise CupsHarnessError("this private cupsd listens on no TCP port (ipp_port)")
        return f"ipp://127.0.0.1:{self.ipp_port}/printers/{queue}"

    def connect(self):
        """A pycups Connection to this server (pycups is imported lazily)."""
        import cups  # pycups; imported here so lp-only users need not have it

        return cups.Connection(host=self.server)

    # ------------------------------------------------------------------ queues

    def add_capture_queue(
        self,
        name: str,
        *,
        fault_flag: os.PathLike[str] | str | None = None,
        out_dir: os.PathLike[str] | str | None = None,
        mode: str = "retry",
        error_policy: str | None = None,
        description: str | None = None,
    ) -> CaptureQueue:
        """Create a raw queue NAME whose device is capture:/<out_dir>?fault=<flag>&mode=<mode>.

        The queue takes any document format and hands the bytes to the backend unchanged.
        fault_flag defaults to <tmp>/faults/<name> (use queue.set_fault()/clear_fault());
        out_dir defaults to <tmp>/capture/<name>. See capture-backend for the modes.
        `description` is its printer-info (what the appliance calls the printer).
        """
        out = Path(out_dir) if out_dir is not None else self._path("capture", name)
        flag = Path(fault_flag) if fault_flag is not None else self._path("faults", name)
        out.mkdir(parents=True, exist_ok=True)
        query = urllib.parse.urlencode({"fault": str(flag), "mode": mode}, safe="/")
        uri = f"capture:{out}?{query}"
        self.run(
            "lpadmin",
            "-p",
            name,
            "-E",
            "-v",
            uri,
            "-D",
            description or f"Capture queue {name} (tests)",
            "-o",
            f"printer-error-policy={error_policy or self.error_policy}",
            "-o",
            "printer-is-shared=false",
        )
        queue = CaptureQueue(name, out, flag, mode, uri, self)
        self.queues[name] = queue
        return queue

    def add_device_queue(self, name: str, device_uri: str, *,
                         error_policy: str | None = None) -> str:
        """Create a raw queue NAME printing to DEVICE_URI with the system's backend for its
        scheme (ipp://127.0.0.1:PORT/..., usb://..., socket://...); returns NAME.

        Only backends in SYSTEM_BACKENDS are linked in; `usb` is in Debian's `cups` package.
        """
        scheme = device_uri.split(":", 1)[0]
        if not (self.serverbin / "backend" / scheme).exists():
            raise CupsHarnessError(f"no CUPS backend {scheme!r} in {SYSTEM_SERVERBIN}/backend")
        self.run("lpadmin", "-p", name, "-E", "-v", device_uri,
                 "-D", f"Device queue {name} (tests)",
                 "-o", f"printer-error-policy={error_policy or self.error_policy}",
                 "-o", "printer-is-shared=false")
        return name

    def add_class(self, name: str, members: list[str]) -> str:
        """Create the CUPS class NAME of the queues MEMBERS (`lpadmin -c`), enabled and
        accepting, as the appliance's Ansible role does; returns NAME."""
        for member in members:
            self.run("lpadmin", "-p", member, "-c", name)
        self.run("cupsenable", name)
        self.run("cupsaccept", name)
        return name

    def captured(self, name: str) -> list[CapturedJob]:
        """Jobs captured by queue NAME so far, in job-id then delivery order.

        Only complete captures are listed (the sidecar JSON is renamed into place last).
        """
        out = self.queues[name].out_dir
        jobs = []
        for meta_path in out.glob("*-*.json"):
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            jobs.append(CapturedJob(meta_path.with_suffix(".pdf"), meta))
        return sorted(jobs, key=lambda j: (j.job_id, int(j.meta["delivery"])))

    # ------------------------------------------------------------------- state

    def printer_attributes(self, name: str) -> dict[str, Any]:
        return self.connect().getPrinterAttributes(name)

    def printer_state_reasons(self, name: str) -> list[str]:
        reasons = self.printer_attributes(name).get("printer-state-reasons", [])
        return [reasons] if isinstance(reasons, str) else list(reasons)

    def job_attributes(self, job_id: int) -> dict[str, Any]:
        return self.connect().getJobAttributes(job_id)

    def job_state(self, job_id: int) -> int:
        """CUPS' `job-state`, as pycups names them: `cups.IPP_JOB_COMPLETED` and so on."""
        return int(self.job_attributes(job_id)["job-state"])

    def spool_files(self) -> list[Path]:
        """Files in RequestRoot (c#### = job control/history, d####-### = document data)."""
        return sorted(p for p in self.spool_dir.iterdir() if p.is_file())

    def spool_data_files(self) -> list[Path]:
        return [p for p in self.spool_files() if re.fullmatch(r"d\d+-\d+", p.name)]

    def error_log_tail(self, lines: int = 40) -> str:
        try:
            text = self.error_log.read_text(errors="replace")
        except (FileNotFoundError, CupsHarnessError):
            return "(no error_log)"
        return "\n".join(text.splitlines()[-lines:])

    def wait_for(
        self,
        predicate: Callable[[], T],
        timeout: float = 10.0,
        *,
        interval: float = 0.05,
        what: str | None = None,
    ) -> T:
        """Poll predicate() until it returns something truthy; return that value.

        Raises TimeoutError after `timeout` seconds, with the last value or exception and
        the tail of cupsd's error_log, so failures explain themselves.
        """
        deadline = time.monotonic() + timeout
        last: object = None
        while True:
            try:
                value = predicate()
            except CupsHarnessError:
                raise
            except Exception as exc:  # e.g. IPPError while cupsd is restarting
                value, last = None, exc  # type: ignore[assignment]
            else:
                last = value
            if value:
                return value
            if time.monotonic() >= deadline:
                label = what or getattr(predicate, "__name__", "condition")
                raise TimeoutError(
                    f"timed out after {timeout}s waiting for {label}; last result: {last!r}\n"
                    f"--- cupsd error_log (tail) ---\n{self.error_log_tail()}"
                )
            time.sleep(interval)


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM when the parent (the test run) dies."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def _main() -> None:  # pragma: no cover - manual use
    """Start a private cupsd with one capture queue and wait for Ctrl-C."""
    import argparse

    parser = argparse.ArgumentParser(description=_main.__doc__)
    parser.add_argument("--queue", default="capture", help="capture queue name")
    parser.add_argument("--mode", default="retry", help="fault mode: retry, wait, stop, ...")
    args = parser.parse_args()
    with PrivateCups(keep=True) as cupsd:
        queue = cupsd.add_capture_queue(args.queue, mode=args.mode)
        print(f"cupsd started in {cupsd.last_start_seconds:.2f}s, pid {cupsd.proc.pid}")
        print(f"  export CUPS_SERVER={cupsd.server}")
        print(f"  lp -d {queue.name} -t 'Lista 1' some.pdf   # lands in {queue.out_dir}")
        print(f"  echo media-empty > {queue.fault_flag}     # simulate paper out")
        print(f"  rm {queue.fault_flag}                       # paper back")
        print(f"  lpstat -l -p {queue.name}; lpstat -W all -o")
        print(f"  logs: {cupsd.log_dir}   (dir kept after exit: {cupsd.root})")
        print("Ctrl-C stops cupsd.")
        with contextlib.suppress(KeyboardInterrupt):
            while cupsd.running:
                time.sleep(0.5)


if __name__ == "__main__":
    _main()
