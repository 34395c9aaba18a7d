"""Concurrent writes to the file key store share the directory's fsync, and none returns before
an fsync that began after its record was created (or destroyed) has finished."""

from __future__ import annotations

import os
import threading
import time
import uuid
from pathlib import Path

import pytest

from opendeur import keystore
from opendeur.keystore import FileKeyStore

WRITERS = 16


class SlowDirSync:
    """Stands in for the directory fsync: notes which entries existed when each fsync began and
    counts only fsyncs that finished; optionally fails the first one."""

    def __init__(self, fail_first: bool = False) -> None:
        self.lock = threading.Lock()
        self.started = 0
        self.durable: list[set[str]] = []  # entries seen by each fsync that finished
        self.fail_first = fail_first

    def __call__(self, path: Path) -> None:
        seen = set(os.listdir(path))
        with self.lock:
            self.started += 1
            fail = self.fail_first and self.started == 1
        time.sleep(0.02)
        if fail:
            raise OSError(5, "Input/output error")
        with self.lock:
            self.durable.append(seen)

    def covers(self, name: str, present: bool = True) -> bool:
        with self.lock:
            return any((name in seen) == present for seen in self.durable)


def run_writers(work) -> list[BaseException | None]:
    results: list[BaseException | None] = [None] * WRITERS
    gate = threading.Barrier(WRITERS)

    def one(i: int) -> None:
        gate.wait()
        try:
            work(i)
        except OSError as exc:
            results[i] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return results


def test_concurrent_puts_share_directory_fsyncs_and_each_is_covered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = SlowDirSync()
    monkeypatch.setattr(keystore, "_fsync_dir", fake)
    store = FileKeyStore(tmp_path / "keys")
    qids = [uuid.uuid4() for _ in range(WRITERS)]
    uncovered: list[int] = []

    def put(i: int) -> None:
        store.put_sync(qids[i], b"k1:" + bytes(40))
        if not fake.covers(qids[i].hex):  # returned before its entry was synced
            uncovered.append(i)

    assert run_writers(put) == [None] * WRITERS
    assert uncovered == []
    assert sorted(store.ids()) == sorted(qids)
    assert fake.started < WRITERS  # shared: the old store made one per put


def test_destroy_returns_only_after_a_directory_fsync_without_the_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FileKeyStore(tmp_path / "keys")
    qids = [uuid.uuid4() for _ in range(WRITERS)]
    for qid in qids:
        store.put_sync(qid, b"k1:" + bytes(40))
    fake = SlowDirSync()
    monkeypatch.setattr(keystore, "_fsync_dir", fake)
    uncovered: list[int] = []

    def destroy(i: int) -> None:
        store.destroy_sync(qids[i])
        if not fake.covers(qids[i].hex, present=False):
            uncovered.append(i)

    assert run_writers(destroy) == [None] * WRITERS
    assert uncovered == [] and list(store.ids()) == []
    assert fake.started < WRITERS


def test_a_failing_fsync_fails_its_caller_and_the_others_get_their_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = SlowDirSync(fail_first=True)
    monkeypatch.setattr(keystore, "_fsync_dir", fake)
    store = FileKeyStore(tmp_path / "keys")
    qids = [uuid.uuid4() for _ in range(WRITERS)]
    uncovered: list[int] = []

    def put(i: int) -> None:
        store.put_sync(qids[i], b"k1:" + bytes(40))
        if not fake.covers(qids[i].hex):
            uncovered.append(i)

    results = run_writers(put)
    failed = [r for r in results if r is not None]
    # Only the caller that ran the failed fsync sees the error (intake then answers 503 and
    # rolls back); everyone else returned after a later fsync that did succeed.
    assert len(failed) == 1 and isinstance(failed[0], OSError)
    assert uncovered == []
