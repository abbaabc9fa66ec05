"""The web service as production runs it, nginx in front of gunicorn, as subprocesses on
127.0.0.1: for the tests, the benches and the demo.

The same commands as the systemd units: `appliance proxy-config` renders nginx's config
from the one template, `nginx -c` runs it, and `appliance serve` runs gunicorn on a Unix
socket. Only the listening port and the socket path are chosen here (a free port, a
private temporary folder), passed as command-line overrides; everything else comes from
the installation's config file.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

BIN = Path(sys.executable).parent
START_TIMEOUT = 30.0
# Debian puts nginx in /usr/sbin, which an ordinary user's PATH may lack.
NGINX_SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])


class WebStackError(RuntimeError):
    """nginx or gunicorn did not come up (the message carries their log)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def nginx_binary() -> str:
    found = shutil.which("nginx", path=NGINX_SEARCH_PATH)
    if not found:
        raise WebStackError("nginx is not installed (Debian package nginx-light; "
                            "./scripts/setup installs it)")
    return found


def nginx_command(config: Path) -> list[str]:
    """nginx in the foreground with its log on stderr, as appliance-proxy.service runs it.

    Started by root (CI, a container) nginx's workers would switch to `nobody`, who may not
    enter the private folder of the socket; they keep root's identity instead. Under systemd
    nginx starts unprivileged and needs no `user` at all.
    """
    command = [nginx_binary(), "-e", "stderr", "-c", str(config)]
    return [*command, "-g", "user root;"] if os.geteuid() == 0 else command


class WebStack:
    """nginx on 127.0.0.1:`port` in front of `appliance serve`, each in its own process group.

    `serve_command` replaces `appliance serve` (a bench serving a variant of the app); it
    gets the socket path as its last argument. Both processes log to one file.
    """

    def __init__(self, config_path: Path, log_dir: Path, *, port: int | None = None,
                 serve_command: Sequence[str] | None = None) -> None:
        self.config_path = Path(config_path)
        self.port = port or free_port()
        self.log_path = Path(log_dir) / f"web-{self.port}.log"
        self.serve_command = list(serve_command) if serve_command else [
            str(BIN / "appliance"), "--config", str(self.config_path), "serve", "--socket"]
        self.work_dir: Path | None = None
        self.processes: list[subprocess.Popen] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = START_TIMEOUT) -> WebStack:
        # A short private folder: a Unix socket's path may not exceed 107 bytes.
        self.work_dir = Path(tempfile.mkdtemp(prefix="appliance-web-"))
        socket_path = self.work_dir / "web.sock"
        nginx_conf = self.work_dir / "nginx.conf"
        subprocess.run(
            [str(BIN / "appliance"), "--config", str(self.config_path), "proxy-config",
             "--output", str(nginx_conf), "--host", "127.0.0.1", "--port", str(self.port),
             "--socket", str(socket_path)],
            check=True, capture_output=True)
        deadline = time.monotonic() + timeout
        self.processes = [self._spawn([*self.serve_command, str(socket_path)])]
        try:
            # nginx after gunicorn's socket exists: no "connect() failed" lines in the log
            wait_until(socket_path.exists, self.processes, deadline)
            self.processes.append(self._spawn(nginx_command(nginx_conf)))
            wait_until(lambda: answers_health_check(self.url), self.processes, deadline)
        except WebStackError as exc:
            self.kill()
            raise WebStackError(f"{exc}:\n{self.log()}") from None
        return self

    def _spawn(self, command: list[str]) -> subprocess.Popen:
        with open(self.log_path, "ab") as log:
            return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)

    @property
    def web(self) -> subprocess.Popen:
        """gunicorn's arbiter."""
        return self.processes[0]

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal both process groups (nginx, gunicorn and their workers), as a power cut
        would with the default SIGKILL; wait for them and remove the working folder."""
        for process in self.processes:
            signal_group(process, sig)
        for process in self.processes:
            process.wait(timeout=30)
        if self.work_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)
            self.work_dir = None

    def stop(self) -> None:
        self.kill(signal.SIGTERM)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def signal_group(process: subprocess.Popen, sig: int) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)


def wait_until(ready: Callable[[], bool], processes: Sequence[subprocess.Popen],
               deadline: float) -> None:
    """Poll `ready` until it is true; WebStackError if a process exits or time runs out."""
    while not ready():
        for process in processes:
            if process.poll() is not None:
                raise WebStackError(f"{Path(process.args[0]).name} exited with status "
                                    f"{process.returncode}")
        if time.monotonic() > deadline:
            raise WebStackError("the web service did not start in time")
        time.sleep(0.05)


def answers_health_check(base_url: str, timeout: float = 1.0) -> bool:
    """/healthz answers 200 through the proxy: nginx and gunicorn are both up."""
    with contextlib.suppress(OSError), urllib.request.urlopen(
            base_url + "/healthz", timeout=timeout) as response:
        return response.status == 200
    return False
