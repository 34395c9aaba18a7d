"""The file key store: records are durable, destroyed in place, and rotation never revives one;
several processes share it, a crash's cut record is skipped, the old layout is adopted."""

from __future__ import annotations

import asyncio
import fcntl
import os
import shutil
import stat
import threading
import uuid
from pathlib import Path

import pytest

from opendeur import keystore
from opendeur.keys import Envelope
from opendeur.keystore import FileKeyStore, KeyStoreError, location, open_keystore, rewrap_all
from opendeur.settings import Settings

K1 = [("k1", bytes(range(32)))]
K3 = [("k3", bytes(range(100, 132))), *K1]


def on_disk(directory: Path) -> bytes:
    """Every byte in the store's directory, as an attacker copying the data dir gets them."""
    return b"".join(p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file())


def test_put_get_destroy_and_a_missing_key_reads_as_none(tmp_path: Path) -> None:
    store = FileKeyStore(tmp_path / "keys")
    qid, wrapped = uuid.uuid4(), Envelope(K1).new_data_key()[1]
    store.put_sync(qid, wrapped)
    assert store.get_sync(qid) == wrapped
    assert list(store.ids()) == [qid]
    store.destroy_sync(qid)
    assert store.get_sync(qid) is None
    assert list(store.ids()) == []
    store.destroy_sync(qid)  # again: nothing to do, no error
    store.put_sync(qid, wrapped)
    with pytest.raises(FileExistsError):  # a record is never silently replaced by put
        store.put_sync(qid, b"k1:" + bytes(60))
    assert store.get_sync(qid) == wrapped
    with pytest.raises(KeyStoreError, match="1 to 231 bytes"):
        store.put_sync(uuid.uuid4(), b"k1:" + bytes(300))


def test_destroy_overwrites_the_record_in_place(tmp_path: Path) -> None:
    """A second name for the segment (as a backup tool's hard link would be) sees zeros where
    the destroyed key was, and the other questions' keys unchanged."""
    store = FileKeyStore(tmp_path / "keys")
    ring = Envelope(K1)
    kept, gone = [(uuid.uuid4(), ring.new_data_key()[1]) for _ in range(2)]
    for qid, wrapped in (kept, gone):
        store.put_sync(qid, wrapped)
    (segment,) = store.dir.glob("seg-*.keys")
    other = tmp_path / "hardlink"
    os.link(segment, other)
    assert gone[1] in other.read_bytes()
    store.destroy_sync(gone[0])
    assert gone[1] not in other.read_bytes() and gone[0].bytes not in other.read_bytes()
    assert kept[1] in other.read_bytes() and store.get_sync(kept[0]) == kept[1]


def test_a_copy_of_the_directory_after_an_erasure_has_no_key_for_it(tmp_path: Path) -> None:
    """The attacker copies the key store's directory after the erasure and opens it."""
    store = FileKeyStore(tmp_path / "keys", segment_slots=8)
    ring = Envelope(K1)
    records = [(uuid.uuid4(), ring.new_data_key()[1]) for _ in range(20)]
    for qid, wrapped in records:
        store.put_sync(qid, wrapped)
    erased, kept = records[::2], records[1::2]
    for qid, _ in erased:
        store.destroy_sync(qid)
    shutil.copytree(store.dir, tmp_path / "copy")
    copy = FileKeyStore(tmp_path / "copy")
    raw = on_disk(tmp_path / "copy")
    for qid, wrapped in erased:
        assert copy.get_sync(qid) is None
        assert wrapped not in raw and qid.bytes not in raw
    for qid, wrapped in kept:
        assert copy.get_sync(qid) == wrapped
    assert sorted(copy.ids()) == sorted(q for q, _ in kept)


def put_all(store: FileKeyStore, records: list[tuple[uuid.UUID, bytes]]) -> list[Path]:
    """Put the records one by one; the segments they went to, in the order they were started
    (not their names' order: two started in the same millisecond sort either way)."""
    made: list[str] = []
    for qid, wrapped in records:
        store.put_sync(qid, wrapped)
        if store._writer not in made:
            made.append(store._writer)
    segments = [store.dir / name for name in made]
    assert sorted(store.dir.glob("seg-*.keys")) == sorted(segments)
    return segments


def test_a_segment_with_every_record_destroyed_is_zeroed_and_unlinked(tmp_path: Path) -> None:
    store = FileKeyStore(tmp_path / "keys", segment_slots=4)
    ring = Envelope(K1)
    records = [(uuid.uuid4(), ring.new_data_key()[1]) for _ in range(10)]
    segments = put_all(store, records)
    assert len(segments) == 3  # 4 + 4 + 2
    first = tmp_path / "first-segment"
    os.link(segments[0], first)
    for qid, _ in records[:4]:
        store.destroy_sync(qid)
    assert not segments[0].exists()  # all four destroyed: gone
    assert first.read_bytes() == bytes(4 * 256)  # zeroed before it was unlinked
    for qid, _ in records[4:]:
        store.destroy_sync(qid)
    assert sorted(store.dir.glob("seg-*.keys")) == [segments[2]]  # the one still appended to
    assert on_disk(store.dir) == bytes(2 * 256)


def test_records_and_directory_are_private(tmp_path: Path) -> None:
    store = FileKeyStore(tmp_path / "keys")
    store.put_sync(uuid.uuid4(), Envelope(K1).new_data_key()[1])
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700
    files = list((tmp_path / "keys").iterdir())
    assert len(files) == 2  # the lock and one segment
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in files)


def test_replace_only_over_the_expected_record_and_never_after_destroy(tmp_path: Path) -> None:
    store = FileKeyStore(tmp_path / "keys")
    qid, old = uuid.uuid4(), Envelope(K1).new_data_key()[1]
    store.put_sync(qid, old)
    new = Envelope(K3).rewrap(old)
    assert not store.replace_sync(qid, b"k1:something else", new)
    assert store.replace_sync(qid, old, new)
    assert store.get_sync(qid) == new
    assert old not in on_disk(store.dir)  # the record under the old master key is zeroed
    store.destroy_sync(qid)
    assert not store.replace_sync(qid, new, old)
    assert store.get_sync(qid) is None
    assert not any(on_disk(store.dir))


def test_rotation_racing_erasure_never_brings_a_key_back(tmp_path: Path) -> None:
    """A rotation (its own store, as `opendeur keys rotate` beside intake) races erasures."""
    store = FileKeyStore(tmp_path / "keys")
    rotation = FileKeyStore(tmp_path / "keys")
    ring = Envelope(K3)
    for _ in range(200):
        qid, old = uuid.uuid4(), Envelope(K1).new_data_key()[1]
        store.put_sync(qid, old)
        new = ring.rewrap(old)
        t = threading.Thread(target=rotation.replace_sync, args=(qid, old, new))
        t.start()
        store.destroy_sync(qid)
        t.join()
        assert store.get_sync(qid) is None and rotation.get_sync(qid) is None
    assert not any(on_disk(store.dir))


def test_two_processes_on_one_directory_see_each_others_keys_and_erasures(
    tmp_path: Path,
) -> None:
    """Two intake processes (or intake and a rotation) share the directory: each appends to its
    own segment, finds the other's records, and an erasure by either is final for both."""
    a, b = FileKeyStore(tmp_path / "keys"), FileKeyStore(tmp_path / "keys")
    ring = Envelope(K1)
    qa, wa = uuid.uuid4(), ring.new_data_key()[1]
    qb, wb = uuid.uuid4(), ring.new_data_key()[1]
    a.put_sync(qa, wa)
    b.put_sync(qb, wb)
    assert len(list(a.dir.glob("seg-*.keys"))) == 2
    assert b.get_sync(qa) == wa and a.get_sync(qb) == wb
    assert sorted(a.ids()) == sorted(b.ids()) == sorted([qa, qb])
    b.destroy_sync(qa)
    assert a.get_sync(qa) is None
    new = Envelope(K3).rewrap(wb)
    assert a.replace_sync(qb, wb, new)  # a re-wraps a record in b's segment
    assert b.get_sync(qb) == new
    a.destroy_sync(qb)
    assert b.get_sync(qb) is None and list(b.ids()) == []
    assert not any(on_disk(a.dir))


def test_a_record_cut_by_a_crash_is_skipped_and_the_rest_read(tmp_path: Path) -> None:
    store = FileKeyStore(tmp_path / "keys")
    ring = Envelope(K1)
    qid, wrapped = uuid.uuid4(), ring.new_data_key()[1]
    store.put_sync(qid, wrapped)
    (segment,) = store.dir.glob("seg-*.keys")
    with segment.open("ab") as f:
        f.write(b"odk1" + uuid.uuid4().bytes + b"\x3f" + wrapped[:20])  # the crash cut it here
    store.close()
    again = FileKeyStore(tmp_path / "keys")
    assert again.get_sync(qid) == wrapped and list(again.ids()) == [qid]
    other = uuid.uuid4()
    again.put_sync(other, wrapped)  # a new segment: the cut one is never appended to again
    assert again.get_sync(other) == wrapped and len(list(again.dir.glob("seg-*.keys"))) == 2
    link = tmp_path / "link"
    os.link(segment, link)
    again.destroy_sync(qid)  # its last record: the segment goes, the cut bytes zeroed with it
    assert not segment.exists() and not any(link.read_bytes())


def test_a_record_another_process_is_still_writing_is_read_once_it_is_whole(
    tmp_path: Path,
) -> None:
    """The writer (holding its segment's flock) is mid-way through a record at the end: the
    reader reads it again until it is whole. A record cut in the middle of a segment (a failed
    write) hides nothing after it."""
    directory = tmp_path / "keys"
    reader = FileKeyStore(directory)
    ring = Envelope(K1)
    (q1, w1), (q2, w2), (q3, w3) = [(uuid.uuid4(), ring.new_data_key()[1]) for _ in range(3)]
    r1, r2, r3 = (keystore._encode(q, w) for q, w in ((q1, w1), (q2, w2), (q3, w3)))
    segment = directory / f"seg-{uuid.uuid4().hex}.keys"
    segment.write_bytes(r1[:100] + bytes(100))
    with segment.open("r+b") as writer:
        fcntl.flock(writer, fcntl.LOCK_EX)
        assert reader.get_sync(q1) is None
        writer.write(r1)
        writer.flush()
        assert reader.get_sync(q1) == w1
        writer.write(r2[:100] + bytes(156) + r3)  # the second cut (its write failed), a third
        writer.flush()
        assert reader.get_sync(q3) == w3 and reader.get_sync(q2) is None
        assert sorted(reader.ids()) == sorted([q1, q3])


def test_puts_in_flight_share_one_sync_and_a_failed_sync_fails_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Group commit: 64 puts at once are on disk after a handful of fdatasyncs; when one fails,
    every put that waited for it fails (its question is then refused, not accepted without a
    key on disk), and the next record starts a new segment."""
    store = FileKeyStore(tmp_path / "keys")
    ring = Envelope(K1)
    calls = []
    fail = False

    def datasync(fd: int) -> None:
        calls.append(fd)
        if fail:
            raise OSError(5, "Input/output error")
        os.fdatasync(fd)

    monkeypatch.setattr(keystore, "_datasync", datasync)

    async def puts(n: int) -> list[BaseException | None]:
        records = [(uuid.uuid4(), ring.new_data_key()[1]) for _ in range(n)]
        return await asyncio.gather(*(store.put(q, w) for q, w in records), return_exceptions=True)

    assert asyncio.run(puts(64)) == [None] * 64
    assert 1 <= len(calls) <= 2
    fail, calls[:] = True, []
    failed = asyncio.run(puts(16))
    assert all(isinstance(r, KeyStoreError) for r in failed)
    assert "could not write a record to disk" in str(failed[0])
    fail = False
    assert asyncio.run(puts(4)) == [None] * 4
    assert len(list(store.dir.glob("seg-*.keys"))) == 2


def test_files_of_the_store_of_before_move_into_a_segment_and_are_shredded(
    tmp_path: Path,
) -> None:
    """An installation upgrading: the old store had one file per question (and a temporary
    file of an unfinished re-wrap). Opening the store moves the keys and shreds the files."""
    directory = tmp_path / "keys"
    directory.mkdir(mode=0o700)
    ring = Envelope(K1)
    old = {uuid.uuid4(): ring.new_data_key()[1] for _ in range(3)}
    for qid, wrapped in old.items():
        (directory / qid.hex).write_bytes(wrapped)
    erased = uuid.uuid4()
    (directory / erased.hex).write_bytes(bytes(63))  # destroyed by the old store, not unlinked
    (directory / (".tmp-" + next(iter(old)).hex)).write_bytes(Envelope(K3).rewrap(old[qid]))
    first = tmp_path / "link-to-an-old-file"
    os.link(directory / qid.hex, first)
    store = FileKeyStore(directory)
    assert {q: store.get_sync(q) for q in old} == old
    assert store.get_sync(erased) is None
    assert [p.name for p in directory.iterdir() if not p.name.startswith("seg-")] == [".lock"]
    assert first.read_bytes() == bytes(len(old[qid]))  # zeroed before it was unlinked
    assert sorted(FileKeyStore(directory).ids()) == sorted(old)  # once, not twice


def test_rewrap_all_moves_every_record_under_the_current_key(tmp_path: Path) -> None:
    store = FileKeyStore(tmp_path / "keys")
    old_ring, ring = Envelope(K1), Envelope(K3)
    keys = {}
    for _ in range(5):
        qid = uuid.uuid4()
        key, wrapped = old_ring.new_data_key()
        store.put_sync(qid, wrapped)
        keys[qid] = key
    stranger = uuid.uuid4()
    store.put_sync(stranger, b"k7:" + os.urandom(60))  # under a key no longer configured
    done, left, unreadable = asyncio.run(rewrap_all(store, ring))
    assert (done, left, unreadable) == (5, 1, 1)
    for qid, key in keys.items():
        wrapped = store.get_sync(qid)
        assert wrapped.startswith(b"k3:") and ring.unwrap(wrapped) == key
    assert asyncio.run(rewrap_all(store, ring)) == (0, 1, 1)  # idempotent


def test_location_defaults_to_the_data_dir_and_odd_settings_are_refused(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path)
    assert location(settings) == f"file:{tmp_path.resolve() / 'intake-keys'}"
    assert isinstance(open_keystore(settings), FileKeyStore)
    custom = Settings(_env_file=None, intake_keystore=f"file:{tmp_path / 'elsewhere'}")
    assert open_keystore(custom).dir == tmp_path / "elsewhere"
    for bad in ("vault:transit/opendeur", "file:", str(tmp_path)):
        with pytest.raises(KeyStoreError, match="OPENDEUR_INTAKE_KEYSTORE"):
            open_keystore(Settings(_env_file=None, intake_keystore=bad))


def test_a_destroy_that_failed_is_done_again_by_its_retry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The disk fails the sync of the zeros: the destroy raises (the erasure is not done) and
    keeps what it knows, so the retry (the sweep, a second withdrawal) zeroes and syncs again."""
    store = FileKeyStore(tmp_path / "keys")
    qid, wrapped = uuid.uuid4(), Envelope(K1).new_data_key()[1]
    store.put_sync(qid, wrapped)
    syncs = []

    def failing(fd: int) -> None:
        syncs.append(fd)
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(keystore, "_datasync", failing)
    with pytest.raises(KeyStoreError, match="could not overwrite a record on disk"):
        store.destroy_sync(qid)
    monkeypatch.setattr(keystore, "_datasync", lambda fd: syncs.append(fd) or os.fdatasync(fd))
    syncs.clear()
    store.destroy_sync(qid)
    assert syncs, "the retry must write and sync the zeros again"
    assert wrapped not in on_disk(store.dir) and FileKeyStore(store.dir).get_sync(qid) is None


def test_a_short_write_fails_the_put_and_the_next_record_goes_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FileKeyStore(tmp_path / "keys")
    ring = Envelope(K1)
    (q1, w1), (q2, w2), (q3, w3) = [(uuid.uuid4(), ring.new_data_key()[1]) for _ in range(3)]
    store.put_sync(q1, w1)
    real = os.pwrite
    monkeypatch.setattr(os, "pwrite", lambda fd, data, offset: real(fd, data[:100], offset))
    with pytest.raises(KeyStoreError, match="could not write a record to disk"):
        store.put_sync(q2, w2)
    monkeypatch.setattr(os, "pwrite", real)
    store.put_sync(q3, w3)
    assert len(list(store.dir.glob("seg-*.keys"))) == 2
    again = FileKeyStore(store.dir)
    assert (again.get_sync(q1), again.get_sync(q2), again.get_sync(q3)) == (w1, None, w3)


def test_a_segment_left_empty_by_a_process_that_is_gone_is_collected_at_open(
    tmp_path: Path,
) -> None:
    first = FileKeyStore(tmp_path / "keys", segment_slots=2)
    ring = Envelope(K1)
    records = [(uuid.uuid4(), ring.new_data_key()[1]) for _ in range(3)]
    full, last = put_all(first, records)
    first.destroy_sync(records[2][0])  # the last segment is empty, but still appended to
    assert last.exists()
    first.close()  # the process ends
    again = FileKeyStore(tmp_path / "keys")
    assert sorted(again.dir.glob("seg-*.keys")) == [full]
    assert [again.get_sync(q) for q, _ in records] == [records[0][1], records[1][1], None]


def test_a_sync_runs_on_the_loop_only_while_the_last_syncs_were_fast() -> None:
    fast, slow = [0.0005] * keystore.SYNC_HISTORY, [0.005] * keystore.SYNC_HISTORY
    assert keystore.syncs_inline(fast)
    assert not keystore.syncs_inline(fast[1:])  # not yet seen enough of the disk
    assert keystore.syncs_inline([*fast[3:], 0.02, 0.05, float("inf")])  # a slow tail, a failure
    assert not keystore.syncs_inline(slow)  # a slow disk
    assert not keystore.syncs_inline(fast[:7] + slow[:9])  # one that became slow


class StandInDisk:
    """`_datasync` for the tests of where a sync runs: it notes whether each sync ran on the
    loop's thread (asyncio.run runs the loop on the caller's), and takes no time, 5 ms (`slow`)
    or fails (`fail`); the tests do not hang on this machine's disk."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.loop_thread = threading.get_ident()
        self.on_loop: list[bool] = []  # per sync
        self.slow = self.fail = False
        monkeypatch.setattr(keystore, "_datasync", self)

    def __call__(self, fd: int) -> None:
        self.on_loop.append(threading.get_ident() == self.loop_thread)
        if self.fail:
            raise OSError(5, "Input/output error")
        if self.slow:
            threading.Event().wait(0.005)


def puts_one_by_one(store: FileKeyStore, n: int) -> list[KeyStoreError | None]:
    """`n` puts one after the other (a sync each), on a loop of their own: each one's error."""
    ring = Envelope(K1)

    async def put() -> KeyStoreError | None:
        try:
            await store.put(uuid.uuid4(), ring.new_data_key()[1])
        except KeyStoreError as exc:
            return exc
        return None

    async def puts() -> list[KeyStoreError | None]:
        return [await put() for _ in range(n)]

    return asyncio.run(puts())


def test_puts_sync_on_the_loop_after_fast_syncs_and_in_a_thread_on_a_slow_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A disk that shows itself fast gets its syncs on the event loop (no thread's hand-over);
    a disk that becomes slow gets them in a thread again, and a fast one on the loop again."""
    store = FileKeyStore(tmp_path / "keys")
    disk = StandInDisk(monkeypatch)
    n = keystore.SYNC_HISTORY
    puts_one_by_one(store, n + 2)
    assert disk.on_loop == [False] * n + [True] * 2
    disk.slow, disk.on_loop[:] = True, []
    puts_one_by_one(store, n)
    assert disk.on_loop[0] and disk.on_loop[-1] is False  # on the loop until half were slow
    disk.slow, disk.on_loop[:] = False, []
    puts_one_by_one(store, n)
    assert disk.on_loop[0] is False and disk.on_loop[-1] is True
    assert len(list(store.ids())) == 3 * n + 2


def test_a_sync_that_fails_on_the_loop_fails_its_puts_as_in_a_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On the loop as in a thread: the puts waiting for a sync that failed fail (their questions
    are refused), and the next record starts a new segment and is stored."""
    store = FileKeyStore(tmp_path / "keys")
    disk = StandInDisk(monkeypatch)
    assert puts_one_by_one(store, keystore.SYNC_HISTORY) == [None] * keystore.SYNC_HISTORY
    disk.fail, disk.on_loop[:] = True, []
    failed = puts_one_by_one(store, 1)
    assert disk.on_loop == [True] and isinstance(failed[0], KeyStoreError)
    disk.fail = False
    qid, wrapped = uuid.uuid4(), Envelope(K1).new_data_key()[1]
    asyncio.run(store.put(qid, wrapped))
    assert store.get_sync(qid) == wrapped
    assert len(list(store.dir.glob("seg-*.keys"))) == 2
