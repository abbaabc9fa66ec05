"""SIGKILL the whole server at random moments during a stream of ingests; after each
restart the index and the files agree, no partial file is visible, and the newest
snapshot opens."""

from __future__ import annotations

import random
import sqlite3
import threading
import time

from appliance.core import keys, seal
from appliance.core.clock import SystemClock
from appliance.core.pdf import count_pages
from appliance.core.store import Store
from tests.conftest import Server, make_installation, post

ROUNDS = 8


def pusher(url: str, envelopes: list[bytes], stop: threading.Event, accepted: list[str]):
    for body in envelopes:
        if stop.is_set():
            return
        try:
            status, reply = post(url, body, timeout=10)
        except OSError:
            return  # the server died under us: expected
        if status == 201:
            accepted.append(reply["id"])


def index_ids(inst) -> set[str]:
    db = sqlite3.connect(f"file:{inst.state_dir / 'index.sqlite3'}?mode=ro", uri=True)
    try:
        return {row[0] for row in db.execute("SELECT id FROM snapshots")}
    finally:
        db.close()


def test_sigkill_during_ingests_leaves_a_consistent_store(tmp_path):
    # retention off the table: every acknowledged snapshot must still be there at the end
    installation = make_installation(tmp_path, "[retention]\nkeep_per_sender_unit_kind = 10000\n")
    rng = random.Random(20261127)
    private = keys.parse_appliance_private_pem(
        (installation.state_dir / "keys" / "appliance.key").read_bytes(), "key")
    all_accepted: list[str] = []
    for _ in range(ROUNDS):
        envelopes = [installation.envelope(pages=rng.randint(1, 3)) for _ in range(12)]
        server = Server(installation).start()
        stop, accepted = threading.Event(), []
        thread = threading.Thread(target=pusher, args=(server.url + "/api/v1/snapshots",
                                                       envelopes, stop, accepted))
        thread.start()
        time.sleep(rng.uniform(0.02, 0.6))
        server.kill()
        stop.set()
        thread.join(timeout=30)
        all_accepted += accepted

        restarted = Server(installation).start()  # reconciles on start
        restarted.stop()
        files = {p.name for p in (installation.state_dir / "snapshots").iterdir()}
        ids = index_ids(installation)
        assert not [name for name in files if name.startswith(".tmp-")]
        assert files == {f"{snapshot_id}.seal" for snapshot_id in ids}
        assert set(all_accepted) <= ids, "an acknowledged snapshot was lost"

    store = Store(installation.state_dir, SystemClock())
    newest = store.snapshots()[0]
    documents = seal.decrypt(seal.parse(store.read_envelope(newest.id), 10**9), private)
    assert count_pages(documents[0].content) == newest.documents[0].pages
    assert len(all_accepted) > 0
