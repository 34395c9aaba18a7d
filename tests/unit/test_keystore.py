"""The file key store: records are durable, destroyed in place, and rotation never revives one."""

from __future__ import annotations

import asyncio
import os
import stat
import threading
import uuid
from pathlib import Path

import pytest

from opendeur.keys import Envelope
from opendeur.keystore import FileKeyStore, KeyStoreError, location, open_keystore, rewrap_all
from opendeur.settings import Settings

K1 = [("k1", bytes(range(32)))]
K3 = [("k3", bytes(range(100, 132))), *K1]


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


def test_destroy_overwrites_the_record_in_place_before_unlinking(tmp_path: Path) -> None:
    """A second name for the same inode (as a backup tool's hard link would be) sees zeros."""
    store = FileKeyStore(tmp_path / "keys")
    qid, wrapped = uuid.uuid4(), Envelope(K1).new_data_key()[1]
    store.put_sync(qid, wrapped)
    other = tmp_path / "hardlink"
    os.link(store.dir / qid.hex, other)
    store.destroy_sync(qid)
    assert other.read_bytes() == b"\0" * len(wrapped)
    assert not (store.dir / qid.hex).exists()


def test_records_and_directory_are_private(tmp_path: Path) -> None:
    store = FileKeyStore(tmp_path / "keys")
    qid = uuid.uuid4()
    store.put_sync(qid, Envelope(K1).new_data_key()[1])
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "keys" / qid.hex).stat().st_mode) == 0o600


def test_replace_only_over_the_expected_record_and_never_after_destroy(tmp_path: Path) -> None:
    store = FileKeyStore(tmp_path / "keys")
    qid, old = uuid.uuid4(), Envelope(K1).new_data_key()[1]
    store.put_sync(qid, old)
    new = Envelope(K3).rewrap(old)
    assert not store.replace_sync(qid, b"k1:something else", new)
    assert store.replace_sync(qid, old, new)
    assert store.get_sync(qid) == new
    store.destroy_sync(qid)
    assert not store.replace_sync(qid, new, old)
    assert store.get_sync(qid) is None and list(store.dir.iterdir()) == []


def test_rotation_racing_erasure_never_brings_a_key_back(tmp_path: Path) -> None:
    store = FileKeyStore(tmp_path / "keys")
    ring = Envelope(K3)
    for _ in range(200):
        qid, old = uuid.uuid4(), Envelope(K1).new_data_key()[1]
        store.put_sync(qid, old)
        new = ring.rewrap(old)
        t = threading.Thread(target=store.replace_sync, args=(qid, old, new))
        t.start()
        store.destroy_sync(qid)
        t.join()
        assert store.get_sync(qid) is None
    assert list(store.dir.iterdir()) == []


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
