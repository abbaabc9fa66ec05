"""Where the appliance's private key comes from (`appliance.core.intake.appliance_key`): the systemd
credential in `$CREDENTIALS_DIRECTORY` when `keys.private_key_credential` names one, otherwise the
key file; errors that name the setting and the fix; the `appliance key` commands that make the
pair as a stream for `systemd-creds`. docs/key-protection.md."""

from __future__ import annotations

import shlex

import pytest
from click.testing import CliRunner

from appliance.cli.appliance_cli import main as appliance_main
from appliance.core.config.settings import load_appliance_config
from appliance.core.crypto import keys
from appliance.core.intake.appliance_key import CredentialNotGiven, load_private_key
from tests.conftest import run_cli

CREDENTIAL = "appliance-key"


def installation(tmp_path, *, credential: bool):
    """An appliance made by `init --dir` (a key file), optionally switched to the credential."""
    run_cli(appliance_main, tmp_path / "unused.toml", "init", "--dir", str(tmp_path / "app"))
    toml = tmp_path / "app" / "appliance.toml"
    if credential:
        text = toml.read_text(encoding="utf-8")
        setting = f'private_key_credential = "{CREDENTIAL}"\n'
        toml.write_text(text.replace("[keys]\n", "[keys]\n" + setting, 1), encoding="utf-8")
    return load_appliance_config(toml)


def piped(toml, *args: str, data: bytes, expect: int = 0):
    """`appliance --config TOML ARGS...` with `data` on standard input."""
    result = CliRunner().invoke(appliance_main, ["--config", toml, *args], input=data)
    assert result.exit_code == expect, result.output
    return result


def credentials_dir(tmp_path, private: keys.AppliancePrivateKey):
    """What systemd gives a unit with LoadCredentialEncrypted=appliance-key:...: a directory
    holding the decrypted credential under its name."""
    directory = tmp_path / "run-credentials"
    directory.mkdir()
    (directory / CREDENTIAL).write_bytes(private.to_pem())
    return {"CREDENTIALS_DIRECTORY": str(directory)}


def test_without_a_credential_setting_the_key_file_is_the_key_even_in_a_unit(tmp_path):
    config = installation(tmp_path, credential=False)
    from_file = keys.parse_appliance_private_pem(config.private_key_path.read_bytes(), "file")
    other = keys.generate_appliance_key(config.kem)
    assert load_private_key(config, credentials_dir(tmp_path, other)) == from_file


def test_a_given_credential_is_the_key_not_the_file(tmp_path):
    config = installation(tmp_path, credential=True)
    given = keys.generate_appliance_key(config.kem)
    assert config.private_key_path.exists()  # still there: the credential must win over it
    assert load_private_key(config, credentials_dir(tmp_path, given)) == given


def test_the_credential_file_lies_beside_the_config(tmp_path):
    config = installation(tmp_path, credential=True)
    assert config.private_key_credential_file == (
        tmp_path / "app" / "credentials" / f"{CREDENTIAL}.cred")


def test_outside_a_unit_the_error_names_the_setting_and_the_systemd_run_line(tmp_path):
    config = installation(tmp_path, credential=True)
    config.private_key_path.unlink()  # a provisioned appliance: no plaintext key
    argv = ["/opt/appliance/venv/bin/appliance", "print", "--wait"]
    with pytest.raises(CredentialNotGiven) as raised:
        load_private_key(config, {}, argv)
    message = str(raised.value)
    assert "keys.private_key_credential" in message and repr(CREDENTIAL) in message
    command = shlex.split(message.splitlines()[-1])
    assert command[0] == "systemd-run" and "--pipe" in command and "--wait" in command
    assert (f"LoadCredentialEncrypted={CREDENTIAL}:{config.private_key_credential_file}"
            in command)
    assert f"APPLIANCE_CONFIG={config.source}" in command
    assert command[-3:] == argv


def test_in_a_unit_without_the_credential_the_error_names_the_unit_line(tmp_path):
    config = installation(tmp_path, credential=True)
    config.private_key_path.unlink()
    empty = tmp_path / "creds"
    empty.mkdir()
    with pytest.raises(CredentialNotGiven, match="this unit was not given it: add "
                       f"LoadCredentialEncrypted={CREDENTIAL}:"):
        load_private_key(config, {"CREDENTIALS_DIRECTORY": str(empty)}, ["appliance"])


def test_a_broken_credential_is_named_as_the_credential(tmp_path):
    config = installation(tmp_path, credential=True)
    directory = tmp_path / "creds"
    directory.mkdir()
    (directory / CREDENTIAL).write_bytes(b"not a key")
    with pytest.raises(keys.KeyFileError, match=f"systemd credential {CREDENTIAL} "
                       r"\(keys.private_key_credential\): no 'APPLIANCE HPKE PRIVATE KEY'"):
        load_private_key(config, {"CREDENTIALS_DIRECTORY": str(directory)})


def test_key_generate_and_public_make_the_pair_through_pipes(tmp_path):
    config = installation(tmp_path, credential=True)
    toml = str(config.source)
    pem = run_cli(appliance_main, toml, "key", "generate").stdout_bytes
    private = keys.parse_appliance_private_pem(pem, "stdout")
    assert private.suite is config.kem
    public = piped(toml, "key", "public", data=pem).stdout_bytes
    assert public == private.public_key().to_pem()
    refused = piped(toml, "key", "public", data=b"junk", expect=2)
    assert "standard input: no 'APPLIANCE HPKE PRIVATE KEY'" in refused.output


def test_without_the_private_key_public_commands_still_work_and_init_writes_none(tmp_path):
    config = installation(tmp_path, credential=True)
    toml = str(config.source)
    config.private_key_path.unlink()
    public = keys.parse_appliance_public_pem(config.public_key_path.read_bytes(), "pub")
    assert run_cli(appliance_main, toml, "pubkey").stdout_bytes == public.to_pem()
    init = run_cli(appliance_main, toml, "init").output
    assert "existing" in init and keys.short_fingerprint(public.fingerprint) in init
    assert not config.private_key_path.exists()
    checked = run_cli(appliance_main, toml, "config", "check", expect=None).output
    assert f"private key: systemd credential {CREDENTIAL}" in checked
    assert "problem: " not in checked.replace("problem: printing", "")  # the key is fine
    config.public_key_path.unlink()
    refused = run_cli(appliance_main, toml, "init", expect=2).output
    assert "init` writes no plaintext key" in refused and "systemd-creds encrypt" in refused
    assert not config.private_key_path.exists()


def test_config_check_reports_a_plaintext_key_left_beside_the_credential(tmp_path):
    config = installation(tmp_path, credential=True)
    checked = run_cli(appliance_main, str(config.source), "config", "check", expect=1).output
    assert f"problem: {config.private_key_path}: a plaintext private key" in checked


def test_config_check_reports_a_public_key_of_another_private_key(tmp_path):
    config = installation(tmp_path, credential=False)
    other = keys.generate_appliance_key(config.kem).public_key()
    config.public_key_path.write_bytes(other.to_pem())
    checked = run_cli(appliance_main, str(config.source), "config", "check", expect=1).output
    assert "not the public half of the private key" in checked
