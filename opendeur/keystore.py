"""The key store: each question's wrapped data key, kept outside PostgreSQL so erasure is final.

Used by intake (the only holder of a help-seeker's data) and by `opendeur keys rotate`, so it
sits in the runtime. PostgreSQL keeps only ciphertext. A question's data key lives here, wrapped
under intake's master key, one record per question; erasing a question destroys its record
(crypto-shredding), so what PostgreSQL still has in dead tuples, in its WAL or in a backup can no
longer be opened.

The interface (`KeyStore`) is small on purpose: `put`, `get`, `destroy`, `replace` (rotation) and
`ids`. The embedded default, `FileKeyStore`, keeps one file per question in a directory of the
data dir (OPENDEUR_INTAKE_KEYSTORE=file:PATH, default OPENDEUR_DATA_DIR/intake-keys): `put` writes
and fsyncs the record and its directory entry before the question's rows are inserted; `destroy`
overwrites the record in place with zeros, fsyncs, unlinks it and fsyncs the directory.

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
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol
from uuid import UUID

from opendeur.keys import Envelope, KeyringError
from opendeur.settings import Settings

_TMP = ".tmp-"


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


class FileKeyStore:
    """One 0600 file per question in one 0700 directory; records locked with flock so a rotation
    never brings back a key that an erasure is destroying."""

    def __init__(self, directory: Path) -> None:
        self.dir = Path(directory)
        try:
            self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise KeyStoreError(f"cannot create the key store directory {self.dir}") from exc
        if self.dir.stat().st_mode & 0o077:
            self.dir.chmod(0o700)

    def __repr__(self) -> str:
        return f"FileKeyStore({str(self.dir)!r})"

    def _path(self, qid: UUID) -> Path:
        return self.dir / UUID(str(qid)).hex

    @contextlib.contextmanager
    def _locked(self, path: Path) -> Iterator[int | None]:
        """An fd of the record, flock'ed, that is still the file at `path` (None: no record)."""
        while True:
            try:
                fd = os.open(path, os.O_RDWR)
            except FileNotFoundError:
                yield None
                return
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                same = os.fstat(fd).st_ino == os.stat(path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                try:
                    yield fd
                finally:
                    os.close(fd)  # releases the lock
                return
            os.close(fd)  # replaced or removed while we waited: look again

    def put_sync(self, qid: UUID, wrapped: bytes) -> None:
        path = self._path(qid)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, wrapped)
            os.fsync(fd)
        finally:
            os.close(fd)
        _fsync_dir(self.dir)

    def get_sync(self, qid: UUID) -> bytes | None:
        try:
            data = self._path(qid).read_bytes()
        except FileNotFoundError:
            return None
        return data if data and b":" in data[:33] else None

    def _shred(self, fd: int, path: Path) -> None:
        size = os.fstat(fd).st_size
        os.pwrite(fd, b"\0" * size, 0)
        os.fsync(fd)
        os.unlink(path)

    def destroy_sync(self, qid: UUID) -> None:
        path = self._path(qid)
        tmp = self.dir / (_TMP + path.name)
        for p in (path, tmp):
            with self._locked(p) as fd:
                if fd is not None:
                    self._shred(fd, p)
        _fsync_dir(self.dir)

    def replace_sync(self, qid: UUID, old: bytes, new: bytes) -> bool:
        path = self._path(qid)
        tmp = self.dir / (_TMP + path.name)
        with self._locked(path) as fd:
            if fd is None or os.pread(fd, os.fstat(fd).st_size + 1, 0) != old:
                return False
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            tfd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.write(tfd, new)
                os.fsync(tfd)
            finally:
                os.close(tfd)
            os.replace(tmp, path)
            _fsync_dir(self.dir)
        return True

    async def put(self, qid: UUID, wrapped: bytes) -> None:
        await asyncio.to_thread(self.put_sync, qid, wrapped)

    async def get(self, qid: UUID) -> bytes | None:
        return self.get_sync(qid)  # a small read from the page cache: no thread hop

    async def destroy(self, qid: UUID) -> None:
        await asyncio.to_thread(self.destroy_sync, qid)

    async def replace(self, qid: UUID, old: bytes, new: bytes) -> bool:
        return await asyncio.to_thread(self.replace_sync, qid, old, new)

    def ids(self) -> Iterator[UUID]:
        for entry in os.scandir(self.dir):
            if entry.name.startswith(_TMP):
                continue
            try:
                yield UUID(hex=entry.name)
            except ValueError:
                continue


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
