"""The one alert queue of both sides (`core.base.alert_queue`), posted by the real webhook poster
to a real receiver on 127.0.0.1: in order, bounded, persisted across restarts, never a
delivered alert twice, no URL in the log."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from appliance.adapters.webhook import WebhookPoster
from appliance.core.base.alert_queue import MAX_WAITING, AlertQueue
from tests.conftest import free_port
from tests.webhook_receiver import WebhookReceiver

START = datetime(2026, 11, 27, 6, 31, tzinfo=UTC)
RETRY_SECONDS = 60


def alert(number: int) -> dict:
    return {"event": "slot_missed", "kind": "todo", "slot": f"slot-{number}"}


class SavedQueue:
    """A queue persisted in a JSON file, as its owners keep it inside their state files."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.queue = AlertQueue.from_json(json.loads(path.read_text()) if path.exists() else [])
        self.saves = 0

    def persist(self) -> None:
        self.path.write_text(json.dumps(self.queue.to_json()))
        self.saves += 1

    def deliver(self, poster: WebhookPoster | None, now: datetime) -> list[dict]:
        return self.queue.deliver(poster, now, retry_delay=lambda attempts: RETRY_SECONDS,
                                  persist=self.persist)


@pytest.fixture
def receiver():
    rec = WebhookReceiver(port=free_port())
    yield rec
    rec.stop()


def poster_for(receiver: WebhookReceiver) -> WebhookPoster:
    return WebhookPoster(receiver.url, timeout=2)


def test_in_order_and_a_failure_holds_back_the_rest_until_its_retry(tmp_path, receiver):
    receiver.status = 500
    receiver.start()
    saved = SavedQueue(tmp_path / "queue.json")
    saved.queue.add(alert(1), START)
    saved.queue.add(alert(2), START)

    assert saved.deliver(poster_for(receiver), START) == []
    assert receiver.attempts == 1  # the second waits behind the first
    [head, _] = saved.queue.waiting
    assert (head.attempts, head.next_attempt_at) == (1, START + timedelta(seconds=RETRY_SECONDS))

    receiver.status = 204
    assert saved.deliver(poster_for(receiver), START + timedelta(seconds=59)) == []
    assert receiver.attempts == 1  # not due yet
    delivered = saved.deliver(poster_for(receiver), START + timedelta(seconds=RETRY_SECONDS))
    assert delivered == [alert(1), alert(2)]
    assert receiver.received == [alert(1), alert(2)]
    assert len(saved.queue) == 0


def test_persisted_across_restarts_and_a_delivered_alert_is_never_sent_again(
        tmp_path, receiver):
    path = tmp_path / "queue.json"
    first = SavedQueue(path)
    for number in (1, 2, 3):
        first.queue.add(alert(number), START)
    first.persist()
    receiver.start()

    class DownAfterOne(WebhookPoster):
        """The receiver goes away after the first delivery (a crash of the far end)."""

        def post(self, payload: dict) -> None:
            if receiver.received:
                receiver.stop()
            super().post(payload)

    assert first.deliver(DownAfterOne(receiver.url, timeout=2), START) == [alert(1)]
    on_disk = json.loads(path.read_text())
    assert [entry["alert"] for entry in on_disk] == [alert(2), alert(3)]
    assert on_disk[0]["attempts"] == 1

    receiver.start()  # same port: the webhook is back; a new process takes over the file
    second = SavedQueue(path)
    assert second.deliver(poster_for(receiver), START + timedelta(minutes=1)) == [
        alert(2), alert(3)]
    third = SavedQueue(path)
    assert third.deliver(poster_for(receiver), START + timedelta(minutes=2)) == []
    assert receiver.received == [alert(1), alert(2), alert(3)]


def test_bounded_the_oldest_are_dropped_with_a_warning(tmp_path, receiver, caplog):
    receiver.start()
    saved = SavedQueue(tmp_path / "queue.json")
    for number in range(MAX_WAITING + 5):
        saved.queue.add(alert(number), START)

    assert len(saved.queue) == MAX_WAITING
    assert f"more than {MAX_WAITING} alerts wait" in caplog.text
    saved.deliver(poster_for(receiver), START)
    assert receiver.received == [alert(number) for number in range(5, MAX_WAITING + 5)]
    assert saved.saves == MAX_WAITING  # saved after every delivery


def test_failures_name_the_host_never_the_url_and_redirects_are_failures(
        tmp_path, receiver, caplog):
    caplog.set_level(logging.INFO)
    receiver.status = 302  # a redirect could lead anywhere: not delivered
    receiver.start()
    secret_url = f"http://127.0.0.1:{receiver.port}/hooks/t0ken-Geheim?key=Geheim"
    saved = SavedQueue(tmp_path / "queue.json")
    saved.queue.add(alert(1), START)

    saved.deliver(WebhookPoster(secret_url, timeout=2), START)

    assert receiver.attempts == 1 and len(saved.queue) == 1
    assert f"webhook at 127.0.0.1:{receiver.port} answered HTTP 302" in caplog.text
    assert "Geheim" not in caplog.text


def test_without_a_poster_waiting_alerts_are_dropped(tmp_path):
    saved = SavedQueue(tmp_path / "queue.json")
    saved.queue.add(alert(1), START)

    assert saved.deliver(None, START) == []
    assert len(SavedQueue(saved.path).queue) == 0


def test_entries_of_another_shape_are_dropped_on_load(caplog):
    good = {"alert": alert(1), "attempts": 2, "next_attempt_at": "2026-11-27T06:31:00Z"}
    queue = AlertQueue.from_json([good, {"event": "old format"}, "junk",
                                  {**good, "next_attempt_at": "yesterday"}])

    assert queue.to_json() == [good]
    assert "3 saved alert(s) unreadable" in caplog.text
    assert len(AlertQueue.from_json({"not": "a list"})) == 0
