"""The key store: each question's wrapped data key, kept outside PostgreSQL so erasure is final.

Used by intake (the only holder of a help-seeker's data) and by `opendeur keys rotate`, so it
sits in the runtime. PostgreSQL keeps only ciphertext. A question's data key lives here, wrapped
under intake's master key, one record per question; erasing a question destroys its record
(crypto-shredding), so what PostgreSQL still has in dead tuples, in its WAL or in a backup can no
longer be opened.

The interface (`KeyStore`) is small on purpose: `put`, `get`, `destroy`, `replace` (rotation) and
`ids`. The embedded default, `FileKeyStore`, lives in a directory of the data dir
(OPENDEUR_INTAKE_KEYSTORE=file:PATH, default OPENDEUR_DATA_DIR/intake-keys), as segment files of
fixed 256-byte records (`seg-<time-ordered id>.keys`, 0600, in a 0700 directory):

- `put` appends the record to the process's own segment and returns once an fdatasync that
  began after the append has finished, before the question's rows are inserted. Concurrent puts
  share that fdatasync (group commit). Before, every question had a file of its own, two fsyncs
  and a directory entry: 0.8 ms of the machine's CPU per question, half of intake's (measured in
  docs/performance.md). That fdatasync runs on the event loop itself while the disk shows itself
  fast (`syncs_inline`), else in a thread. On the loop, a stall of the disk holds the whole loop
  (every request, not only puts) for as long as it lasts, and a disk that turns slow keeps the
  loop for about half a window's syncs (8) before they go back to the thread.
- `destroy` overwrites every record of the question in place with zeros and fdatasyncs before it
  returns; a segment whose records are all destroyed is zeroed whole, unlinked, and its directory
  fsynced. A slot is never reused, so a zeroed record stays zeros.
- `replace` (rotation) appends the re-wrapped record, syncs it, then zeroes the old one.
- Each process appends only to a segment it created and holds flock'ed; `destroy`, `replace`
  and the collection of segments take the store's lock file (`.lock`), so `opendeur keys rotate`
  beside a running intake, or several intake processes on one directory, never bring back a key
  an erasure destroyed. Each process keeps an index (question → records) in memory, built by
  reading the segments at start and read again when a key is not where it expected: about
  330 bytes per live key (62 MiB for 200,000, opened in 5.4 s), and a descriptor per segment.
  The processes must share one kernel (flock, one page cache): never a network file system.
- A failed write or sync fails the put (the question is refused, not accepted without its key
  on disk) and every put waiting for the same sync; a failed erasure raises and keeps what it
  knows, so its retry zeroes and syncs again.
- Files from the store of before (one file per question) are moved into segments and shredded
  when the store opens. There is no way back: the code of before does not read segments.

A KMS or Vault-transit store would implement the same five calls (not built): `put` stores the
key wrapped by the KMS (or keeps a per-question key version), `get` unwraps through the KMS,
`destroy` deletes that key version (Vault: `transit/keys/<name>` with `deletion_allowed`, or one
key per question destroyed with `DELETE`), `ids` lists them, `replace` re-wraps. Nothing else in
intake knows where the keys are.

Order on erasure: the key is destroyed first, then the rows are changed. A process dying in
between leaves a question whose key is missing; a missing key reads as erased, and the retention
sweep (or a repeated withdrawal) finishes the row. Overwriting in place is best effort on
copy-on-write filesystems and SSDs (old blocks may survive below the filesystem): the README asks
for an encrypted volume under the data dir for that reason."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import math
import os
import re
import statistics
import struct
import threading
import time
import zlib
from collections import deque
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Protocol
from uuid import UUID

from contracts.events import new_id
from opendeur.keys import Envelope, KeyringError
from opendeur.settings import Settings

SLOT = 256  # bytes per record: magic, question id, length, wrapped key, zero padding, CRC-32
SEGMENT_SLOTS = 4096  # records per segment file (1 MiB)
_MAGIC = b"odk1"
_HEAD = struct.Struct(">4s16sB")
_CRC = struct.Struct(">I")
MAX_WRAPPED = SLOT - _HEAD.size - _CRC.size
_ZERO = bytes(SLOT)
_SEGMENT = re.compile(r"^seg-[0-9a-f]{32}\.keys$")
_LEGACY = re.compile(r"^(\.tmp-)?[0-9a-f]{32}$")  # the store of before: one file per question
_LOCK = ".lock"
_datasync = os.fdatasync  # one name, so a test can count the syncs or make one fail
# A put's fdatasync blocks the event loop instead of going to a thread while the median of the
# last SYNC_HISTORY syncs is under INLINE_SYNC_S: a local disk. A thread costs the put about as
# much as such a sync: its hand-over and the GIL's, 1.4 ms at p50 at 100 questions/s, against
# fdatasyncs of 0.6-0.7 ms p50 (a few ms at p99) on the bench's disk beside PostgreSQL's and
# NATS's own (docs/performance.md). A slow disk (network storage) keeps the thread; one that
# turns slow holds the loop for about eight more syncs, a single stall for as long as it lasts.
INLINE_SYNC_S = 0.002
SYNC_HISTORY = 16


def syncs_inline(recent: Sequence[float]) -> bool:
    """Whether the next sync may run on the event loop: the last SYNC_HISTORY syncs' durations
    in seconds (a failed one counts as endless) are known and their median under INLINE_SYNC_S."""
    return len(recent) >= SYNC_HISTORY and statistics.median(recent) < INLINE_SYNC_S


class KeyStoreError(RuntimeError):
    """A key store that cannot be used (its messages name paths and settings, never keys)."""


class KeyStore(Protocol):
    async def put(self, qid: UUID, wrapped: bytes) -> None:
        """Store a new question's wrapped key durably (before its rows are committed)."""

    async def get(self, qid: UUID) -> bytes | None:
        """The wrapped key, or None when it was destroyed (the question reads as erased)."""

    async def destroy(self, qid: UUID) -> None:
        """Destroy the key for good; a key that is already gone is fine."""

    async def replace(self, qid: UUID, old: bytes, new: bytes) -> bool:
        """Re-wrapped key for rotation, only if the record still holds `old`."""

    def ids(self) -> Iterator[UUID]:
        """Every question that still has a key."""


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _encode(qid: UUID, wrapped: bytes) -> bytes:
    wrapped = bytes(wrapped)
    if not wrapped or len(wrapped) > MAX_WRAPPED:
        raise KeyStoreError(f"a wrapped key must be 1 to {MAX_WRAPPED} bytes long")
    body = (_HEAD.pack(_MAGIC, UUID(str(qid)).bytes, len(wrapped)) + wrapped).ljust(
        SLOT - _CRC.size, b"\0"
    )
    return body + _CRC.pack(zlib.crc32(body))


class _Torn(Exception):
    """A slot that is neither a whole record nor zeros: a write going on, or cut by a crash."""


def _decode(slot: bytes) -> tuple[UUID, bytes] | None:
    """(question, wrapped key) of a whole record; None for an empty or destroyed slot."""
    if slot == _ZERO:
        return None
    if len(slot) != SLOT:
        raise _Torn
    magic, qid, length = _HEAD.unpack_from(slot)
    body = slot[: SLOT - _CRC.size]
    if (
        magic != _MAGIC
        or length > MAX_WRAPPED
        or _CRC.unpack_from(slot, len(body))[0] != zlib.crc32(body)
    ):
        raise _Torn
    return UUID(bytes=qid), slot[_HEAD.size : _HEAD.size + length]


def _slots(data: bytes) -> list[bytes]:
    """The whole slots in bytes read from a segment (a cut last one is left out)."""
    return [data[i * SLOT : (i + 1) * SLOT] for i in range(len(data) // SLOT)]


def _whole(slot: bytes) -> bool:
    """Whether the slot holds a whole record (not zeros, not cut)."""
    try:
        return _decode(slot) is not None
    except _Torn:
        return False


def _wipe(fd: int, path: Path) -> None:
    """Overwrite the open file with zeros, sync, unlink (the caller fsyncs the directory)."""
    size = os.fstat(fd).st_size
    if size:
        os.pwrite(fd, bytes(size), 0)
        os.fsync(fd)
    os.unlink(path)


def _shred_file(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return
    try:
        _wipe(fd, path)
    finally:
        os.close(fd)


class FileKeyStore:
    """Segments of fixed-size records in one 0700 directory (see the module's docstring)."""

    def __init__(self, directory: Path, segment_slots: int = SEGMENT_SLOTS) -> None:
        self.dir = Path(directory)
        try:
            self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise KeyStoreError(f"cannot create the key store directory {self.dir}") from exc
        if self.dir.stat().st_mode & 0o077:
            self.dir.chmod(0o700)
        self.segment_slots = segment_slots
        self._mutex = threading.RLock()  # the index, the open files and the writer's place
        self._index: dict[UUID, list[tuple[str, int]]] = {}  # question → (segment, slot)
        self._live: dict[str, int] = {}  # segment → records the index points to in it
        self._fds: dict[str, int] = {}  # segment → a descriptor to read and zero records
        self._scanned: dict[str, int] = {}  # segment → slots read, all whole or zeros
        self._writer: str | None = None  # this process's segment, flock'ed while it appends
        self._wfd = -1  # the writer's own descriptor: appends and their syncs, nothing else
        self._next = 0  # the writer's next free slot
        self._written = 0  # records appended by this process so far
        self._synced = 0  # ... of which known to be on disk
        self._lost = 0  # ... of which an fdatasync failed: their puts fail
        self._syncing: asyncio.Future[None] | None = None
        self._sync_seconds: deque[float] = deque(maxlen=SYNC_HISTORY)  # the last syncs' time
        with self._store_lock():
            self._adopt_files_of_before()
            self._refresh()
            self._collect(self._emptied())  # left empty by processes that are gone

    def __repr__(self) -> str:
        return f"FileKeyStore({str(self.dir)!r})"

    def close(self) -> None:
        with self._mutex:
            for fd in [*self._fds.values(), *([self._wfd] if self._wfd >= 0 else [])]:
                os.close(fd)
            self._fds.clear()
            self._index.clear()
            self._live.clear()
            self._scanned.clear()
            self._writer, self._wfd = None, -1

    @contextlib.contextmanager
    def _store_lock(self) -> Iterator[None]:
        """The store's lock across processes and threads (destroy, replace, collection)."""
        fd = os.open(self.dir / _LOCK, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    # -- the index ------------------------------------------------------------------------

    def _add(self, qid: UUID, place: tuple[str, int]) -> None:
        places = self._index.setdefault(qid, [])
        if place not in places:
            places.append(place)
            self._live[place[0]] = self._live.get(place[0], 0) + 1

    def _drop(self, qid: UUID, place: tuple[str, int]) -> None:
        places = self._index.get(qid, [])
        if place in places:
            places.remove(place)
            self._live[place[0]] -= 1
        if not places:
            self._index.pop(qid, None)

    def _forget(self, name: str) -> None:
        """A segment that is gone (collected): its descriptor and index entries too."""
        fd = self._fds.pop(name, None)
        if fd is not None:
            os.close(fd)
        self._scanned.pop(name, None)
        self._live.pop(name, None)
        for qid in [q for q, places in self._index.items() if any(p[0] == name for p in places)]:
            self._index[qid] = [p for p in self._index[qid] if p[0] != name]
            if not self._index[qid]:
                del self._index[qid]

    def _emptied(self) -> set[str]:
        """Segments this process knows of with no record left (candidates for collection)."""
        with self._mutex:
            return {n for n in self._fds if n != self._writer and self._live.get(n, 0) == 0}

    def _refresh(self) -> None:
        """Read what other processes appended since the last look, and drop collected segments."""
        with self._mutex:
            names = sorted(n for n in os.listdir(self.dir) if _SEGMENT.match(n))
            for name in set(self._fds) - set(names):
                if os.fstat(self._fds[name]).st_nlink == 0:
                    self._forget(name)
            for name in names:
                fd = self._fds.get(name)
                if fd is None:
                    try:
                        fd = os.open(self.dir / name, os.O_RDWR)
                    except FileNotFoundError:
                        continue
                    self._fds[name] = fd
                    self._scanned[name] = 0
                if name != self._writer:
                    self._scan(name, fd)

    def _scan(self, name: str, fd: int) -> None:
        start = self._scanned[name]
        data = os.pread(fd, max(0, os.fstat(fd).st_size - start * SLOT), start * SLOT)
        slots = _slots(data)
        for i, slot in enumerate(slots):
            try:
                record = _decode(slot)
            except _Torn:
                # A record still being written, or one a crash or a failed write cut: read it
                # again next time while its writer may still finish it; skip it once a later
                # record was written or nobody appends to the segment any more.
                if not any(map(any, slots[i + 1 :])) and self._appended_to(name):
                    return
                record = None
                with contextlib.suppress(_Torn):
                    record = _decode(os.pread(fd, SLOT, (start + i) * SLOT))
            if record is not None:
                self._add(record[0], (name, start + i))
            self._scanned[name] = start + i + 1

    def _appended_to(self, name: str) -> bool:
        """Whether a process holds the segment's flock (its writer: still appending)."""
        try:
            fd = os.open(self.dir / name, os.O_RDONLY)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False

    def _lookup(self, qid: UUID) -> bytes | None:
        """The newest whole record of the question; places that no longer hold it are dropped."""
        with self._mutex:
            for place in reversed(list(self._index.get(qid, ()))):
                fd = self._fds.get(place[0])
                record = None
                if fd is not None:
                    with contextlib.suppress(_Torn):
                        record = _decode(os.pread(fd, SLOT, place[1] * SLOT))
                if record is not None and record[0] == qid:
                    return record[1]
                self._drop(qid, place)
        return None

    # -- appending ------------------------------------------------------------------------

    def _roll(self) -> None:
        """Start a new segment of this process (the last one synced first). It is made under a
        temporary name, flock'ed, then renamed: a segment is never seen unlocked and empty by a
        collection while its writer is about to append."""
        if self._writer is not None:
            try:
                _datasync(self._wfd)
            except OSError as exc:
                self._lost = self._written
                raise KeyStoreError("the key store could not write a record to disk") from exc
            self._synced = self._written
            os.close(self._wfd)  # releases its flock: the segment may be collected once empty
            self._writer, self._wfd = None, -1
        name = f"seg-{new_id().hex}.keys"
        temporary = self.dir / f".new-{name}"
        wfd = os.open(temporary, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            fcntl.flock(wfd, fcntl.LOCK_EX)
            os.rename(temporary, self.dir / name)
            _fsync_dir(self.dir)  # its name is on disk before a record in it counts as stored
            self._fds[name] = os.open(self.dir / name, os.O_RDWR)
        except BaseException:
            os.close(wfd)
            raise
        self._scanned[name] = 0
        self._writer, self._wfd, self._next = name, wfd, 0

    def _append(self, qid: UUID, record: bytes, *, new: bool = True) -> int:
        """Write a record into this process's segment; the sequence number to sync through."""
        with self._mutex:
            if new and self._lookup(qid) is not None:
                raise FileExistsError(f"the key store already has a record for question {qid}")
            if self._writer is None or self._next >= self.segment_slots:
                self._roll()
            assert self._writer is not None
            try:
                if os.pwrite(self._wfd, record, self._next * SLOT) != SLOT:
                    raise OSError("short write")
            except OSError as exc:
                self._next = self.segment_slots  # what follows goes to a new segment
                raise KeyStoreError("the key store could not write a record to disk") from exc
            self._add(qid, (self._writer, self._next))
            self._next += 1
            self._scanned[self._writer] = self._next
            self._written += 1
            return self._written

    def _sync_once(self) -> None:
        """One fdatasync of the writer's segment: what was written before it began is then on
        disk, or, when it fails, lost (`_failed_sync`)."""
        with self._mutex:
            assert self._writer is not None
            target, fd = self._written, os.dup(self._wfd)
        started = time.perf_counter()
        try:
            _datasync(fd)
        except OSError:
            self._sync_seconds.append(math.inf)
            self._failed_sync()
        else:
            self._sync_seconds.append(time.perf_counter() - started)
            with self._mutex:
                self._synced = max(self._synced, target)
        finally:
            os.close(fd)

    def _sync_through(self, seq: int) -> None:
        """Block until the records up to `seq` are on disk (or fail if their sync failed)."""
        if seq > self._synced and seq > self._lost:
            self._sync_once()
        if seq <= self._lost:  # checked after the sync too: a concurrent one may have failed
            raise KeyStoreError("the key store could not write a record to disk")

    def _failed_sync(self) -> None:
        """After a failed fdatasync nothing written so far counts as stored (the kernel may have
        dropped the pages): every put waiting fails, and the next record starts a new segment."""
        with self._mutex:
            self._lost = self._written
            self._next = self.segment_slots

    async def _group_sync(self) -> None:
        try:
            if syncs_inline(self._sync_seconds):
                self._sync_once()
            else:
                await asyncio.to_thread(self._sync_once)
        finally:
            self._syncing = None

    # -- erasing --------------------------------------------------------------------------

    def _zero(self, places: list[tuple[str, int]]) -> set[str]:
        """Overwrite these slots with zeros and sync them (a slot only ever held one question's
        record, so a place that was that question's is zeroed whatever it holds now). Raises
        KeyStoreError unless every one is zeroed on disk."""
        touched: dict[str, int] = {}
        try:
            with self._mutex:
                for name, slot in places:
                    fd = self._fds.get(name)
                    if fd is None:
                        continue
                    if name not in touched:
                        touched[name] = os.dup(fd)
                    if os.pwrite(fd, _ZERO, slot * SLOT) != SLOT:
                        raise OSError("short write")
            for fd in touched.values():
                _datasync(fd)
        except OSError as exc:
            if self._writer in touched:
                self._failed_sync()  # the writer's file had an error: its records are suspect
            raise KeyStoreError("the key store could not overwrite a record on disk") from exc
        finally:
            for fd in touched.values():
                os.close(fd)
        return set(touched)

    def _collect(self, names: set[str]) -> None:
        """Unlink segments with no record left that no process appends to (under the store
        lock): zeroed whole first, so a second name for the file sees nothing either."""
        gone = False
        for name in names:
            with self._mutex:
                if name == self._writer or self._live.get(name, 0) > 0:
                    continue
            path = self.dir / name
            try:
                fd = os.open(path, os.O_RDWR)
            except FileNotFoundError:
                continue
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # another process still appends to it
                if any(map(_whole, _slots(os.pread(fd, os.fstat(fd).st_size, 0)))):
                    continue  # a record this process had not read yet: keep the segment
                _wipe(fd, path)
                gone = True
                with self._mutex:
                    self._forget(name)
            finally:
                os.close(fd)
        if gone:
            _fsync_dir(self.dir)

    def _adopt_files_of_before(self) -> None:
        """Move the one-file-per-question records of the store of before into a segment, then
        shred their files (under the store lock, at open). Also removes a new segment's
        temporary file that a crash left before its rename (empty, or never renamed)."""
        names = os.listdir(self.dir)
        for name in names:
            if name.startswith(".new-seg-"):
                _shred_file(self.dir / name)
        old = sorted(n for n in names if _LEGACY.match(n))
        if not old:
            return
        self._refresh()
        seq = 0
        for name in old:
            data = (self.dir / name).read_bytes()
            if name.startswith(".tmp-") or not data or b":" not in data[:33]:
                continue  # a re-wrap that never finished (the record itself is kept), or zeros
            qid = UUID(hex=name)
            if self._lookup(qid) is None:
                seq = self._append(qid, _encode(qid, data), new=False)
        if seq:
            self._sync_through(seq)
        for name in old:
            _shred_file(self.dir / name)
        _fsync_dir(self.dir)

    # -- the interface --------------------------------------------------------------------

    def put_sync(self, qid: UUID, wrapped: bytes) -> None:
        self._sync_through(self._append(qid, _encode(qid, wrapped)))

    def get_sync(self, qid: UUID) -> bytes | None:
        found = self._lookup(qid)
        if found is None:
            self._refresh()  # written by another process, or moved by a rotation
            found = self._lookup(qid)
        return found

    def destroy_sync(self, qid: UUID) -> None:
        with self._store_lock():
            self._refresh()
            with self._mutex:
                places = list(self._index.get(qid, ()))
            touched = self._zero(places)  # on an error the places stay, for the next try
            with self._mutex:
                for place in places:
                    self._drop(qid, place)
            self._collect(touched | self._emptied())

    def replace_sync(self, qid: UUID, old: bytes, new: bytes) -> bool:
        record = _encode(qid, new)
        with self._store_lock():
            self._refresh()
            if self._lookup(qid) != old:
                return False
            with self._mutex:
                before = list(self._index.get(qid, ()))
            self._sync_through(self._append(qid, record, new=False))
            touched = self._zero(before)
            with self._mutex:
                for place in before:
                    self._drop(qid, place)
            self._collect(touched | self._emptied())
        return True

    async def put(self, qid: UUID, wrapped: bytes) -> None:
        seq = self._append(qid, _encode(qid, wrapped))  # a write to the page cache
        while True:  # group commit: wait for an fdatasync that began after the write
            if seq <= self._lost:
                raise KeyStoreError("the key store could not write a record to disk")
            if seq <= self._synced:
                return
            if self._syncing is None:
                self._syncing = asyncio.ensure_future(self._group_sync())
            await asyncio.shield(self._syncing)

    async def get(self, qid: UUID) -> bytes | None:
        return self.get_sync(qid)  # a read from the page cache: no thread hop

    async def destroy(self, qid: UUID) -> None:
        await asyncio.to_thread(self.destroy_sync, qid)

    async def replace(self, qid: UUID, old: bytes, new: bytes) -> bool:
        return await asyncio.to_thread(self.replace_sync, qid, old, new)

    def ids(self) -> Iterator[UUID]:
        self._refresh()
        with self._mutex:
            qids = list(self._index)
        return (qid for qid in qids if self._lookup(qid) is not None)


async def rewrap_all(store: KeyStore, envelope: Envelope) -> tuple[int, int, int]:
    """Re-wrap every record not under the current master key (rotation, beside the running
    intake: a record erased meanwhile is skipped, never brought back): (re-wrapped, still not
    current, unreadable)."""
    done = left = unreadable = 0
    for qid in list(store.ids()):
        wrapped = await store.get(qid)
        if wrapped is None or envelope.is_current(wrapped):
            continue
        try:
            new = envelope.rewrap(wrapped)
        except KeyringError:
            unreadable += 1
            left += 1
            continue
        if await store.replace(qid, wrapped, new):
            done += 1
        elif (now := await store.get(qid)) is not None and not envelope.is_current(now):
            left += 1
    return done, left, unreadable


def location(settings: Settings) -> str:
    """OPENDEUR_INTAKE_KEYSTORE, or the embedded default in the data dir."""
    return settings.intake_keystore or f"file:{Path(settings.data_dir).resolve() / 'intake-keys'}"


def open_keystore(settings: Settings) -> KeyStore:
    where = location(settings)
    kind, sep, rest = where.partition(":")
    if kind != "file" or not sep or not rest:
        raise KeyStoreError(
            "OPENDEUR_INTAKE_KEYSTORE must be file:PATH (a KMS or Vault store is not built yet)"
        )
    return FileKeyStore(Path(rest))
