"""The self-check (`appliance selftest`, core/watch/selftest.py, adapters/system_probes.py)
with real probes: `cupsd -t` on a copy of the private cupsd's config, broken for real; the
private cupsd's queue refusing jobs; a key gone; an audit log tampered with; dpkg's own
audit of a database with a half-configured package. A failure is a fault on `status`,
`/metrics`, the kiosk (through the real server) and the webhook (a real receiver), and
names what failed; a pending reboot reaches IT only.

The `services` check needs a booted systemd: scripts/deploy-checks/25-selftest.sh runs
it, with the apt hook, in a debian-rig container.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from appliance.adapters import system_probes
from appliance.adapters.web import create_app
from appliance.core.base.clock import FixedClock
from appliance.core.watch import selftest as check
from appliance.core.watch.status import State
from tests.test_kiosk import fetch, screen_text
from tests.test_metrics import make_app, parse, scrape, value
from tests.test_panel import panel  # noqa: F401 - the fixture
from tests.webhook_receiver import WebhookReceiver

# what the CLI cannot check in the test machine (no booted systemd; the host's own dpkg)
NOT_HERE = ("--skip", "services", "--skip", "packages")
BAD_DIRECTIVE = "SelftestBrokenDirective yes\n"


@pytest.fixture
def cupsd_conf(installation, tmp_path) -> Path:
    """A copy of the private cupsd's working config, for `cupsd -t` to judge."""
    folder = tmp_path / "cups-etc"
    folder.mkdir()
    for name in ("cupsd.conf", "cups-files.conf"):
        shutil.copy(installation.cups.conf_dir / name, folder / name)
    return folder / "cupsd.conf"


def selftest(inst, cupsd_conf: Path, *args: str, expect: int):
    result = inst.appliance("selftest", "--json", *NOT_HERE, "--cupsd-config", str(cupsd_conf),
                            "--cups-files-config", str(cupsd_conf.parent / "cups-files.conf"),
                            *args, expect=expect)
    return json.loads(result.output)


def now() -> FixedClock:
    """The moment the installation's documents were made at (the system clock), fixed."""
    return FixedClock(datetime.now(UTC))


def state_of(inst) -> dict:
    return json.loads(inst.status("--json").output)


def test_cupsd_t_passes_the_working_config_and_names_a_broken_line(cupsd_conf):
    files = cupsd_conf.parent / "cups-files.conf"
    assert "is OK" in system_probes.cupsd_config(cupsd_conf, files)
    with open(cupsd_conf, "a", encoding="utf-8") as handle:
        handle.write(BAD_DIRECTIVE)  # as a package's post-install script might
    with pytest.raises(check.CheckFailed) as failed:
        system_probes.cupsd_config(cupsd_conf, files)
    assert "SelftestBrokenDirective" in str(failed.value)
    assert "Ansible role" in str(failed.value)  # the fix
    with pytest.raises(check.CheckFailed, match="has errors"):
        system_probes.cupsd_config(cupsd_conf.parent / "missing.conf", files)


def test_a_broken_cupsd_conf_is_a_fault_named_everywhere_until_it_passes_again(
        installation, cupsd_conf):
    inst = installation
    inst.ingest(inst.envelope())
    ok = selftest(inst, cupsd_conf, expect=0)
    assert ok["ok"] is True and ok["failed"] == []
    assert [c["name"] for c in ok["checks"]] == [name for name in check.CHECKS
                                                 if name not in ("services", "packages")]
    assert state_of(inst)["state"] == "ready"

    with open(cupsd_conf, "a", encoding="utf-8") as handle:
        handle.write(BAD_DIRECTIVE)
    failed = selftest(inst, cupsd_conf, expect=2)
    assert failed["failed"] == ["cupsd_config"]
    status = state_of(inst)
    assert status["state"] == "fault"  # the printer itself is fine: the fault is the check's
    assert status["printer"]["condition"] == "ready"
    assert status["selftest"]["failed"] == ["cupsd_config"]
    text = inst.appliance("selftest", *NOT_HERE, "--cupsd-config", str(cupsd_conf),
                          "--cups-files-config", str(cupsd_conf.parent / "cups-files.conf"),
                          expect=2).output
    assert "FAULT in cupsd_config" in text and "SelftestBrokenDirective" in text
    status_text = inst.status().output
    assert "selftest: FAULT at" in status_text and "cupsd_config: " in status_text

    samples, _ = scrape(make_app(inst, now()).test_client())
    assert value(samples, "appliance_selftest_ok") == 0
    assert value(samples, "appliance_selftest_check_ok", check="cupsd_config") == 0
    assert value(samples, "appliance_selftest_check_ok", check="audit_chain") == 1
    assert value(samples, "appliance_state", state="fault") == 1

    cupsd_conf.write_text(cupsd_conf.read_text().replace(BAD_DIRECTIVE, ""))
    selftest(inst, cupsd_conf, expect=0)
    assert state_of(inst)["state"] == "ready"


def test_the_queue_refusing_jobs_a_missing_key_and_a_tampered_log_are_each_named(
        installation, cupsd_conf):
    inst = installation
    inst.ingest(inst.envelope())
    inst.cups.run("cupsreject", inst.queue.name)
    try:
        failed = selftest(inst, cupsd_conf, expect=2)
    finally:
        inst.cups.run("cupsaccept", inst.queue.name)
    assert failed["failed"] == ["queue"]
    queue = next(c for c in failed["checks"] if c["name"] == "queue")
    assert "not accepting" in queue["detail"] and "cupsaccept" in queue["detail"]

    key = inst.state_dir / "keys" / "appliance.key"
    key.rename(key.with_name("aside"))
    log = inst.state_dir / "audit.log"
    lines = log.read_text().splitlines(keepends=True)
    log.write_text("".join([lines[0].replace('"event"', '"evenT"'), *lines[1:]]))
    failed = selftest(inst, cupsd_conf, expect=2)
    assert failed["failed"] == ["key_credential", "audit_chain"]  # every problem at once
    details = {c["name"]: c["detail"] for c in failed["checks"]}
    assert str(key) in details["key_credential"]
    assert "appliance audit verify" in details["audit_chain"]


def test_dpkg_names_a_package_an_interrupted_upgrade_left_half_configured(tmp_path):
    admin = tmp_path / "dpkg"
    (admin / "info").mkdir(parents=True)
    (admin / "updates").mkdir()
    (admin / "status").write_text("")
    assert "configured" in system_probes.packages_configured(admin)
    (admin / "status").write_text(
        "Package: cups-daemon\nStatus: install ok half-configured\nPriority: optional\n"
        "Section: net\nMaintainer: x <x@example.org>\nArchitecture: all\nVersion: 2.4.2\n"
        "Description: CUPS\n")
    with pytest.raises(check.CheckFailed) as failed:
        system_probes.packages_configured(admin)
    assert "cups-daemon" in str(failed.value) and "dpkg --configure -a" in str(failed.value)


def test_a_crashing_probe_fails_its_own_check_and_the_others_still_run():
    def crash() -> str:
        raise KeyError("surprise")

    result = check.run([("store", crash), ("audit_chain", lambda: "fine")],
                       now().now())
    assert result.failed == ("store",)
    assert result.checks[0].detail == "KeyError: 'surprise'"
    assert result.checks[1].ok


def test_the_webhook_hears_each_change_once_and_a_missed_one_is_retried(installation):
    inst = installation
    hook = WebhookReceiver(status=503).start()
    try:
        with open(inst.appliance_toml, "a", encoding="utf-8") as handle:
            handle.write(f'\n[alerts]\nwebhook_url = "{hook.url}"\n')
        clock = now()
        svc = inst.services(clock)
        alerts = check.SelftestAlerts(svc, _poster(inst))

        def outcome(*failed: str) -> None:
            probes = [(name, (lambda: "fine") if name not in failed else _failing(name))
                      for name in check.CHECKS]
            check.record_selftest(inst.state_dir, check.run(probes, clock.now()))

        outcome()
        assert alerts.evaluate() is None  # all well from the start: nothing to say
        outcome("cupsd_config")
        assert alerts.evaluate()["failed"] == ["cupsd_config"]
        assert hook.received == [] and hook.attempts == 1  # down: waits for the next turn
        assert alerts.evaluate() is None  # the same failure again is no new alert
        hook.status = 204
        clock.advance(timedelta(seconds=check.RETRY_SECONDS))
        alerts.evaluate()
        outcome("cupsd_config", "queue")
        alerts.evaluate()
        outcome()
        alerts.evaluate()
        alerts.evaluate()
        assert hook.events("event", "failed") == [
            ("selftest_failed", ["cupsd_config"]), ("selftest_failed", ["cupsd_config", "queue"]),
            ("selftest_passed", [])]
        assert "cupsd_config: broken" in hook.received[0]["message"]
    finally:
        hook.stop()


def test_a_pending_reboot_is_for_it_never_a_fault_nor_on_the_kiosk(installation, tmp_path):
    inst = installation
    inst.ingest(inst.envelope())
    flag = tmp_path / "reboot-required"
    assert system_probes.reboot_flag(flag).required is False
    flag.write_text("*** System restart required ***\n")
    flag.with_name("reboot-required.pkgs").write_text("linux-image-arm64\nlibc6\nlibc6\n")
    reboot = system_probes.reboot_flag(flag)
    assert reboot.packages == ("linux-image-arm64", "libc6")
    check.record_selftest(inst.state_dir, check.run(
        [("store", lambda: "fine")], now().now(), reboot_required=reboot.required,
        reboot_packages=reboot.packages))
    status = state_of(inst)
    assert status["state"] == "ready"
    assert "reboot required after an upgrade (linux-image-arm64, libc6)" in inst.status().output
    assert status["selftest"]["reboot_required"] is True
    assert status["selftest"]["reboot_packages"] == ["linux-image-arm64", "libc6"]
    samples, _ = scrape(make_app(inst, now()).test_client())
    assert value(samples, "appliance_reboot_required") == 1
    assert value(samples, "appliance_selftest_ok") == 1
    view = create_app(inst.config, printer=inst.printer()).test_client().get("/kiosk/view")
    page = view.get_data(as_text=True)
    assert "Redo" in page and "omstart" not in page.lower() and "reboot" not in page.lower()


def test_never_run_is_no_fault_and_no_metric(installation):
    inst = installation
    inst.ingest(inst.envelope())
    assert "selftest" not in state_of(inst)
    samples, text = scrape(make_app(inst, now()).test_client())
    assert "appliance_selftest_ok" not in text and value(samples, "appliance_state",
                                                         state="ready") == 1
    (inst.state_dir / check.STATE_FILE).write_text("{torn")  # damaged: no fault shown
    assert state_of(inst)["state"] == "ready"


def test_the_kiosk_says_what_failed_in_swedish_with_the_remedy(server, cupsd_conf):
    inst = server.installation
    inst.ingest(inst.envelope())
    with open(cupsd_conf, "a", encoding="utf-8") as handle:
        handle.write(BAD_DIRECTIVE)
    selftest(inst, cupsd_conf, expect=2)
    status, page = fetch(server.url + "/kiosk")
    assert status == 200
    text = screen_text(page)
    assert "Fel i apparaten" in text and "Skrivarfel" not in text
    assert "Försök skriva ut ändå" in text
    assert "Fel i: utskriftssystemets inställningar" in text
    assert 'data-state="fault"' in page
    english = screen_text(fetch(server.url + "/kiosk?lang=en")[1])
    assert "Self-check failed: cupsd_config" in english
    api = json.loads(fetch(server.url + "/api/v1/status")[1])
    assert api["state"] == State.FAULT and api["selftest"]["failed"] == ["cupsd_config"]
    _, labels = parse(fetch(server.url + "/metrics")[1])
    assert "appliance_selftest_last_run_timestamp_seconds" in labels


def _failing(name: str):
    def probe() -> str:
        raise check.CheckFailed("broken")
    return probe


def _poster(inst):
    from appliance.adapters.webhook import webhook_poster

    alerts = inst.config.alerts
    return webhook_poster(alerts.webhook_url, alerts.timeout_seconds)


def test_the_check_sees_apt_holding_its_lock_as_the_kernel_lists_it(tmp_path):
    import fcntl

    lock = tmp_path / "lock-frontend"
    lock.write_text("")
    assert system_probes.dpkg_busy([lock]) is False
    with open(lock, "w") as handle:
        fcntl.lockf(handle, fcntl.LOCK_EX)  # as apt does
        assert system_probes.dpkg_busy([lock]) is True
        assert system_probes.dpkg_busy([tmp_path / "no-such-lock"]) is False
    assert system_probes.dpkg_busy([lock]) is False


def test_the_led_shows_the_fault_and_back_to_ready(panel, cupsd_conf):  # noqa: F811
    p = panel()  # gpiozero's MockFactory: the panel's real daemon loop
    inst = p.installation
    inst.ingest(inst.envelope())
    p.recorder.wait_for(State.READY)
    with open(cupsd_conf, "a", encoding="utf-8") as handle:
        handle.write(BAD_DIRECTIVE)
    selftest(inst, cupsd_conf, expect=2)
    p.recorder.wait_for(State.FAULT)
    cupsd_conf.write_text(cupsd_conf.read_text().replace(BAD_DIRECTIVE, ""))
    selftest(inst, cupsd_conf, expect=0)
    p.recorder.wait_for(State.READY)


def test_the_check_itself_sends_the_alert_naming_what_failed(installation, cupsd_conf):
    inst = installation
    hook = WebhookReceiver().start()
    try:
        with open(inst.appliance_toml, "a", encoding="utf-8") as handle:
            handle.write(f'\n[alerts]\nwebhook_url = "{hook.url}"\n')
        inst.ingest(inst.envelope(marker="Patientnamn Testsson 19121212-1212"))
        selftest(inst, cupsd_conf, expect=0)
        assert hook.received == []  # passed from the start: nothing to say
        with open(cupsd_conf, "a", encoding="utf-8") as handle:
            handle.write(BAD_DIRECTIVE)
        selftest(inst, cupsd_conf, expect=2)
        assert hook.events("event", "failed", "appliance") == [
            ("selftest_failed", ["cupsd_config"], inst.config.name)]
        assert "SelftestBrokenDirective" in hook.received[0]["message"]
        assert "Testsson" not in json.dumps(hook.received)
    finally:
        hook.stop()
