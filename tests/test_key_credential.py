"""The appliance key as a real `systemd-creds` credential, made the way the Ansible role makes it
(`appliance key generate | systemd-creds encrypt`), with the host secret and, with `swtpm` as the
TPM 2.0, with `host+tpm2`: only the right secret (and TPM) opens it, and a snapshot sealed to the
key opens with what systemd would hand the service. docs/key-protection.md.

The host secret is a file of the test's (`$SYSTEMD_CREDENTIAL_SECRET`), never the machine's."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from appliance.core.config.settings import load_appliance_config
from appliance.core.crypto import keys, seal
from appliance.core.intake.appliance_key import load_private_key
from tests.conftest import BIN

NAME = "appliance-key"
SWTPM_TCTI = "/usr/lib/*/libtss2-tcti-swtpm.so.0"  # what systemd-creds loads for swtpm:...
pytestmark = pytest.mark.skipif(shutil.which("systemd-creds") is None,
                                reason="systemd-creds (package systemd) not installed")


def run(command: str, env: dict[str, str], *, check: bool = False) -> subprocess.CompletedProcess:
    done = subprocess.run(["bash", "-o", "pipefail", "-c", command], env=os.environ | env,
                          capture_output=True, timeout=60)
    assert not check or done.returncode == 0, done.stderr.decode(errors="replace")
    return done


def host_secret(path: Path) -> dict[str, str]:
    env = {"SYSTEMD_CREDENTIAL_SECRET": str(path)}
    run("systemd-creds setup", env, check=True)
    return env


@pytest.fixture
def appliance_toml(tmp_path):
    subprocess.run([BIN / "appliance", "init", "--dir", str(tmp_path / "app")], check=True,
                   capture_output=True)
    toml = tmp_path / "app" / "appliance.toml"
    (tmp_path / "app" / "state" / "keys" / "appliance.key").unlink()  # the credential only
    text = toml.read_text(encoding="utf-8")
    toml.write_text(text.replace("[keys]\n", f'[keys]\nprivate_key_credential = "{NAME}"\n', 1),
                    encoding="utf-8")
    return toml


def encrypt_new_key(toml: Path, cred: Path, env: dict[str, str], with_key: str,
                    tpm: list[str] = ()) -> None:
    """As tasks/credentials.yml does it: the private key exists only in the pipe."""
    run(f"{BIN}/appliance --config {toml} key generate | systemd-creds encrypt --name={NAME} "
        f"--with-key={with_key} {' '.join(tpm)} - {cred}", env, check=True)


def decrypt_public(cred: Path, env: dict[str, str], tpm: list[str] = ()):
    return run(f"systemd-creds decrypt --name={NAME} {' '.join(tpm)} {cred} - "
               f"| {BIN}/appliance key public", env)


def test_host_key_credential_opens_only_with_its_host_secret(tmp_path, appliance_toml):
    cred = tmp_path / "appliance-key.cred"
    right = host_secret(tmp_path / "right.secret")
    encrypt_new_key(appliance_toml, cred, right, "host")
    assert b"PRIVATE KEY" not in cred.read_bytes()

    opened = decrypt_public(cred, right)
    assert opened.returncode == 0, opened.stderr
    public = keys.parse_appliance_public_pem(opened.stdout, "decrypted")

    wrong = decrypt_public(cred, host_secret(tmp_path / "other.secret"))
    assert wrong.returncode != 0 and b"PUBLIC KEY" not in wrong.stdout
    assert b"Decryption failed" in wrong.stderr

    # What systemd hands the service: the decrypted credential in $CREDENTIALS_DIRECTORY.
    given = tmp_path / "run-credentials"
    given.mkdir()
    run(f"systemd-creds decrypt --name={NAME} {cred} {given / NAME}", right, check=True)
    private = load_private_key(load_appliance_config(appliance_toml),
                               {"CREDENTIALS_DIRECTORY": str(given)})
    assert private.public_key() == public
    content = b"%PDF-1.4 Att g\xc3\xb6ra"
    now = datetime.now(UTC)
    entry = seal.describe_document("todo", "Hemsjukv\u00e5rd", "Att g\u00f6ra-lista", now, content)
    document = seal.Document(entry, content)
    envelope = seal.seal([document], keys.generate_sender_key(), public, 1, now)
    assert [opened.content for opened in seal.decrypt(seal.parse(envelope, 1 << 26), private)] \
        == [content]


def free_port_pair() -> int:
    """A free TCP port whose successor is free too: the swtpm TCTI finds the control channel
    at the TPM's port + 1."""
    while True:
        with socket.socket() as probe, socket.socket() as control:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
            try:
                control.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
            return port


@pytest.fixture
def swtpm(tmp_path):
    """A software TPM 2.0 on TCP, as a factory: each call is a different chip."""
    if shutil.which("swtpm") is None or not glob.glob(SWTPM_TCTI):
        pytest.skip("swtpm and libtss2-tcti-swtpm0 (Debian packages) not installed")
    chips = []

    def start() -> list[str]:
        state = tmp_path / f"tpm{len(chips)}"
        state.mkdir()
        port = free_port_pair()
        chips.append(subprocess.Popen(
            ["swtpm", "socket", "--tpm2", "--tpmstate", f"dir={state}",
             "--server", f"type=tcp,port={port},bindaddr=127.0.0.1",
             "--ctrl", f"type=tcp,port={port + 1},bindaddr=127.0.0.1",
             "--flags", "not-need-init,startup-clear"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "swtpm did not listen"
                time.sleep(0.05)
        return [f"--tpm2-device=swtpm:host=127.0.0.1,port={port}"]

    yield start
    for chip in chips:
        chip.terminate()
        chip.wait(timeout=10)


def test_tpm_credential_needs_the_same_tpm_and_the_host_secret(tmp_path, appliance_toml, swtpm):
    cred = tmp_path / "appliance-key.cred"
    secret = host_secret(tmp_path / "host.secret")
    chip = swtpm()
    encrypt_new_key(appliance_toml, cred, secret, "host+tpm2", chip)

    opened = decrypt_public(cred, secret, chip)
    assert opened.returncode == 0, opened.stderr
    keys.parse_appliance_public_pem(opened.stdout, "decrypted")

    other_chip = decrypt_public(cred, secret, swtpm())
    assert other_chip.returncode != 0 and b"PUBLIC KEY" not in other_chip.stdout
    assert b"integrity check failed" in other_chip.stderr

    other_secret = decrypt_public(cred, host_secret(tmp_path / "other.secret"), chip)
    assert other_secret.returncode != 0 and b"PUBLIC KEY" not in other_secret.stdout
