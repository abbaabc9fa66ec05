"""The CLI and root on a system installation: as root it refuses to touch state that belongs
to the service user and prints the exact command to run instead; run that way, as a real
non-root service user (a throwaway system user), `init`, `senders add`, `pubkey` and
`audit verify` work and leave nothing the services cannot read (no false tamper alarm)."""

from __future__ import annotations

import os
import shlex
import shutil
import site
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

from tests.conftest import make_installation

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("useradd") or not shutil.which("runuser"),
    reason="needs root, useradd and runuser to create and act as a service user")
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def service_user():
    name = f"apl{uuid.uuid4().hex[:8]}"
    subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                    name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["userdel", name], check=False)


def python_for(user: str) -> str:
    """An interpreter the user may run: this one, or the system's of the same version
    (a pyenv under /root is out of the user's reach)."""
    for candidate in (sys.executable, f"/usr/bin/python{sys.version_info[0]}."
                                      f"{sys.version_info[1]}"):
        if subprocess.run(["runuser", "-u", user, "--", candidate, "-c", "pass"],
                          capture_output=True).returncode == 0:
            return candidate
    pytest.skip("no Python interpreter the service user may run")


@pytest.fixture
def system_install(service_user, tmp_path):
    """/etc and /var/lib of a system install, in a folder every user may enter: config owned
    by root, the state dir (not created yet) and the senders folder for the service user, and
    an `appliance` launcher the service user can run."""
    root = Path(tempfile.mkdtemp(prefix="apl-system-"))
    root.chmod(0o755)
    try:
        etc, state = root / "etc", root / "var" / "lib" / "appliance"
        (etc / "senders").mkdir(parents=True)
        shutil.chown(etc / "senders", service_user, service_user)
        state.parent.mkdir(parents=True)
        config = etc / "appliance.toml"
        config.write_text(f'[appliance]\nname = "jourrum"\nstate_dir = "{state}"\n'
                          f'senders_dir = "{etc / "senders"}"\n')
        launcher = root / "appliance"
        paths = [str(REPO), *site.getsitepackages()]
        launcher.write_text(f"#!{python_for(service_user)}\nimport sys\n"
                            f"sys.path[:0] = {paths!r}\n"
                            "from appliance.cli.appliance_cli import main\nmain()\n")
        launcher.chmod(0o755)
        if subprocess.run(["runuser", "-u", service_user, "--", str(launcher), "--help"],
                          capture_output=True).returncode != 0:
            pytest.skip("the checkout or its virtualenv is out of other users' reach (e.g. "
                        "under a 0700 /root): a service user cannot run this installation")
        sender = make_installation(tmp_path)  # only for a sender's public key
        pub = root / "kontor-norr.pub"
        pub.write_text(sender.sender_cli("pubkey").output)
        pub.chmod(0o644)
        yield launcher, config, state, pub
    finally:
        shutil.rmtree(root)


def run(*command: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, cwd="/",
                          env={**os.environ, **(env or {})})


def advice(result: subprocess.CompletedProcess) -> list[list[str]]:
    """The commands the refusal says to run, split as a shell would."""
    assert result.returncode == 2, result.stdout + result.stderr
    assert "refusing to run as root" in result.stderr
    line = result.stderr.strip().splitlines()[-1].strip()
    return [shlex.split(part) for part in line.split(" && ")]


def test_root_is_told_what_to_run_and_the_service_user_can_run_it(service_user, system_install):
    launcher, config, state, pub = system_install
    user_env = {"APPLIANCE_SERVICE_USER": service_user}

    # root, fresh system install: refused, nothing created, told how to create and init
    refused = run(str(launcher), "--config", str(config), "init", env=user_env)
    prepare, init = advice(refused)
    assert prepare == ["install", "-d", "-o", service_user, "-g", service_user, "-m", "0750",
                       str(state)]
    assert init == ["runuser", "-u", service_user, "--", str(launcher), "--config",
                    str(config), "init"]
    assert not state.exists()
    for command in (prepare, init):  # exactly what it said
        done = run(*command)
        assert done.returncode == 0, done.stderr
    key = state / "keys" / "appliance.key"
    assert (key.stat().st_uid, key.stat().st_mode & 0o777) == (
        state.stat().st_uid, 0o600)
    assert state.stat().st_uid != 0

    # root, existing install: every command that touches it is refused the same way
    for args in (["senders", "add", "kontor-norr", str(pub)], ["audit", "verify"],
                 ["status"], ["init"]):
        before = sorted(p.name for p in state.rglob("*"))
        [command] = advice(run(str(launcher), "--config", str(config), *args))
        assert command[:4] == ["runuser", "-u", service_user, "--"] and command[-len(args):] \
            == args
        assert sorted(p.name for p in state.rglob("*")) == before

    as_user = ["runuser", "-u", service_user, "--", str(launcher), "--config", str(config)]
    enrolled = run(*as_user, "senders", "add", "kontor-norr", str(pub))
    assert enrolled.returncode == 0, enrolled.stderr
    assert run(*as_user, "pubkey").stdout.startswith("-----BEGIN")
    verified = run(*as_user, "audit", "verify")
    assert verified.returncode == 0 and "audit log OK" in verified.stdout, verified.stdout
    owners = {path.name: path.stat().st_uid for path in state.rglob("*")}
    assert set(owners.values()) == {state.stat().st_uid}, owners  # nothing root-owned


def test_root_keeps_its_own_installations(tmp_path):
    """A state dir root owns (tests, the demo, a root-only lab setup) is root's to use."""
    inst = make_installation(tmp_path)
    assert "audit log OK" in inst.appliance("audit", "verify").output
