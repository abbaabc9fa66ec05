"""Where the appliance's private key comes from: a systemd credential, or a file.

On a provisioned appliance the key exists on disk only encrypted by `systemd-creds` (with the
host secret, and the TPM when there is one). systemd decrypts it into the in-memory credentials
directory of each unit that names it in `LoadCredentialEncrypted=`, and hands that directory
over in `$CREDENTIALS_DIRECTORY`. Development machines, the tests and the demo keep the key as a
0600 file. One function finds it for the services and the CLI alike; `keys.private_key_credential`
says which way (docs/key-protection.md).
"""

from __future__ import annotations

import os
import pwd
import shlex
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from appliance.core.base.fsutil import atomic_write
from appliance.core.config.settings import APPLIANCE_CONFIG_ENV, ApplianceConfig
from appliance.core.crypto import keys

CREDENTIALS_DIRECTORY_ENV = "CREDENTIALS_DIRECTORY"  # set by systemd for units with credentials
CREDENTIAL_SETTING = "keys.private_key_credential"


class CredentialNotGiven(keys.KeyFileError):
    """The key is a systemd credential, and this process was not given it."""


def load_private_key(config: ApplianceConfig, environ: Mapping[str, str] = os.environ,
                     argv: Sequence[str] | None = None) -> keys.AppliancePrivateKey:
    """The current private key (the first of the ring, `load_private_ring`)."""
    return load_private_ring(config, environ, argv)[0]


def load_private_ring(config: ApplianceConfig, environ: Mapping[str, str] = os.environ,
                      argv: Sequence[str] | None = None) -> tuple[keys.AppliancePrivateKey, ...]:
    """The private keys, current first (core.intake.key_ring): the credential
    `keys.private_key_credential` when this process has it, otherwise the file
    `state_dir/keys/appliance.key`. `argv` (default: this process's) is the command the
    error message tells how to rerun with the credential."""
    name = config.private_key_credential
    given = _given_credential(name, environ)
    if given is not None:
        source = f"systemd credential {name} ({CREDENTIAL_SETTING})"
        return keys.parse_appliance_private_ring(keys.read_key_file(given), source)
    path = config.private_key_path
    if name and not path.exists():
        raise CredentialNotGiven(_not_given(config, environ, sys.argv if argv is None else argv))
    return keys.parse_appliance_private_ring(keys.read_key_file(path), str(path))


def replace_key_file(config: ApplianceConfig, ring: tuple[keys.AppliancePrivateKey, ...]) -> None:
    """Write the ring over the plain key file (0600, atomically: a reader gets the old ring
    or the new). Only without a credential: the credential is rewritten by `systemd-creds
    encrypt` from the ring on standard output (docs/key-protection.md)."""
    atomic_write(config.private_key_path, keys.appliance_ring_pem(ring), mode=0o600)


def read_public_key(config: ApplianceConfig) -> keys.AppliancePublicKey:
    """The public key from `state_dir/keys/appliance.pub`: what needs only the public key (the
    fingerprint, `pubkey`, `config check`) works without the credential."""
    path = config.public_key_path
    return keys.parse_appliance_public_pem(keys.read_key_file(path), str(path))


def with_credential(config: ApplianceConfig, argv: Sequence[str], user: str) -> list[str]:
    """`argv` as a transient systemd unit that runs as `user` and gets the key credential:
    how root runs a key-needing command (e.g. `appliance print`) outside the services."""
    name = config.private_key_credential
    return ["systemd-run", "--quiet", "--pipe", "--wait", "--collect",
            "-p", f"User={user}",
            "-p", f"LoadCredentialEncrypted={name}:{config.private_key_credential_file}",
            "-E", f"{APPLIANCE_CONFIG_ENV}={config.source}", "--", *argv]


def plaintext_key_beside_credential(config: ApplianceConfig) -> Path | None:
    """The plain key file, if it is still on disk although the key is a credential."""
    path = config.private_key_path
    return path if config.private_key_credential and path.exists() else None


def _given_credential(name: str, environ: Mapping[str, str]) -> Path | None:
    directory = environ.get(CREDENTIALS_DIRECTORY_ENV)
    if not name or not directory:
        return None
    path = Path(directory) / name
    return path if path.exists() else None


def _not_given(config: ApplianceConfig, environ: Mapping[str, str], argv: Sequence[str]) -> str:
    name = config.private_key_credential
    head = (f"the private key is the systemd credential {name!r} ({CREDENTIAL_SETTING}), "
            f"encrypted in {config.private_key_credential_file}")
    if environ.get(CREDENTIALS_DIRECTORY_ENV):
        return (f"{head}, and this unit was not given it: add "
                f"LoadCredentialEncrypted={name}:{config.private_key_credential_file} "
                "to its [Service] section")
    command = [_program(argv[0]), *argv[1:]] if argv else ["appliance"]
    return (f"{head}; systemd decrypts it only for the appliance's services, and this command "
            "runs outside them. Run it as root in a transient unit that gets the credential "
            "(docs/key-protection.md):\n  "
            + shlex.join(with_credential(config, command, _current_user())))


def _program(path: str) -> str:
    """The program as an absolute path: systemd-run does not search the caller's PATH."""
    return str(Path(path).absolute()) if os.sep in path else path


def _current_user() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return str(os.geteuid())


def ensure_appliance_key(config: ApplianceConfig) -> bool:
    """Create the appliance's key pair unless it exists (`init`); True if created. With
    `keys.private_key_credential` set no plaintext key is ever written: the error says how
    the credential is made instead."""
    if config.private_key_path.exists():
        return False
    if config.private_key_credential:
        if config.public_key_path.exists():
            return False
        raise CredentialNotGiven(
            f"keys.private_key_credential is set, so `init` writes no plaintext key: make the "
            f"key pair with `appliance key generate | systemd-creds encrypt "
            f"--name={config.private_key_credential} - {config.private_key_credential_file}` "
            "and `appliance key public` (the Ansible role does both; docs/key-protection.md)")
    private = keys.generate_appliance_key(config.kem)
    keys.write_key_pair(config.private_key_path, private.to_pem(), private.public_key().to_pem())
    return True
