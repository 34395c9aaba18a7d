"""The master-key keyring: wrap under one key, read after a new current key is added, rotate,
drop the old key, still read; unknown ids fail clearly; no error ever shows key material."""

from __future__ import annotations

import base64
import os

import pytest

from opendeur.keys import (
    Envelope,
    KeyringError,
    UnknownKeyId,
    UnwrapFailed,
    new_master_key_line,
    parse_master_keys,
    service_keyring,
)
from opendeur.rotation import cmd_keys_new
from opendeur.settings import Settings

SECRET = "unit-test-secret-0123456789abcdef"


def key_line(kid: str, fill: int) -> tuple[str, str]:
    raw = bytes([fill]) * 32
    b64 = base64.b64encode(raw).decode()
    return f"{kid}:{b64}", b64


K2, K2_B64 = key_line("k2", 2)
K3, K3_B64 = key_line("k3", 3)


def settings(master_keys: str | None = None, secret: str | None = SECRET) -> Settings:
    return Settings(secret_key=secret, master_keys=master_keys, _env_file=None)


def envelope(master_keys: str | None, service: str = "intake") -> Envelope:
    return Envelope.for_service(settings(master_keys), service)


def seal_one(env: Envelope) -> tuple[bytes, bytes]:
    key, wrapped = env.new_data_key()
    return wrapped, Envelope.seal(key, "06 12345678", "q:phone")


def read_one(env: Envelope, wrapped: bytes, sealed: bytes) -> str:
    return Envelope.open(env.unwrap(wrapped), sealed, "q:phone")


def test_without_master_keys_it_is_exactly_the_legacy_derived_key() -> None:
    env = envelope(None)
    assert env.key_id == "k1" and env.key_ids == ("k1",)
    wrapped, sealed = seal_one(env)
    assert wrapped.startswith(b"k1:")
    # The same wrapping as before the keyring existed: a bare Envelope on the derived key opens it.
    from opendeur.keys import derive

    legacy = Envelope(derive(settings(), "master-key:intake"))
    assert read_one(legacy, wrapped, sealed) == "06 12345678"
    key, old = legacy.new_data_key()
    assert env.unwrap(old) == key


def test_wrap_under_k2_add_k3_rotate_drop_k2_still_readable() -> None:
    under_k2 = envelope(K2)
    wrapped, sealed = seal_one(under_k2)
    assert wrapped.startswith(b"k2:") and under_k2.key_ids == ("k2",)

    both = envelope(f"{K3},{K2}")
    assert both.key_id == "k3"
    assert read_one(both, wrapped, sealed) == "06 12345678"
    assert both.new_data_key()[1].startswith(b"k3:")  # new data keys under the current key
    assert not both.is_current(wrapped)

    rotated = both.rewrap(wrapped)
    assert rotated.startswith(b"k3:") and both.is_current(rotated)
    assert both.rewrap(rotated) == rotated  # idempotent
    assert read_one(both, rotated, sealed) == "06 12345678"  # sealed data untouched

    only_k3 = envelope(K3)
    assert read_one(only_k3, rotated, sealed) == "06 12345678"
    with pytest.raises(UnknownKeyId):
        only_k3.unwrap(wrapped)


def test_legacy_k1_is_readable_while_it_is_listed() -> None:
    wrapped, sealed = seal_one(envelope(None))
    # Staged roll-out: k1 stays current while k3 is distributed, then k3 becomes current.
    staged = envelope(f"k1,{K3}")
    assert staged.key_ids == ("k1", "k3")
    assert staged.new_data_key()[1].startswith(b"k1:")
    assert read_one(staged, wrapped, sealed) == "06 12345678"
    env = envelope(f"{K3},{K2},k1")
    assert env.key_ids == ("k3", "k2", "k1")
    assert read_one(env, wrapped, sealed) == "06 12345678"
    rotated = env.rewrap(wrapped)
    assert rotated.startswith(b"k3:")
    # Once dropped from the list, k1 opens nothing, and the error says how to bring it back.
    dropped = envelope(K3)
    assert read_one(dropped, rotated, sealed) == "06 12345678"
    with pytest.raises(UnknownKeyId, match="bare `k1`"):
        dropped.unwrap(wrapped)
    with pytest.raises(KeyringError, match="OPENDEUR_SECRET_KEY"):
        Envelope.for_service(settings(f"{K3},k1", secret=None), "intake")
    assert Envelope.for_service(settings(K3, secret=None), "intake").key_ids == ("k3",)


def test_services_get_separate_wrapping_keys_from_one_listed_key() -> None:
    intake, notify = envelope(K3, "intake"), envelope(K3, "notify")
    _, wrapped = intake.new_data_key()
    with pytest.raises(UnwrapFailed):
        notify.unwrap(wrapped)
    assert dict(service_keyring(settings(K3), "intake"))["k3"] != bytes([3]) * 32


def test_unknown_key_id_is_a_clear_error_without_key_material() -> None:
    wrapped, _ = seal_one(envelope(f"{K2}"))
    with pytest.raises(UnknownKeyId) as info:
        envelope(K3).unwrap(wrapped)
    text = str(info.value)
    assert "k2" in text and "OPENDEUR_MASTER_KEYS" in text
    for secret in (K2_B64, K3_B64, SECRET, wrapped.hex()):
        assert secret not in text and secret not in repr(info.value)
    # A garbage id from damaged data is not echoed either.
    with pytest.raises(UnknownKeyId) as info:
        envelope(K3).unwrap(b"<script>:" + os.urandom(40))
    assert "<script>" not in str(info.value)
    with pytest.raises(UnknownKeyId):
        envelope(K3).unwrap(b"no separator at all")


def test_wrong_material_under_a_known_id_fails_clearly() -> None:
    wrapped, _ = seal_one(envelope(K2))
    other, other_b64 = key_line("k2", 9)
    with pytest.raises(UnwrapFailed) as info:
        envelope(other).unwrap(wrapped)
    assert "k2" in str(info.value) and other_b64 not in str(info.value)


@pytest.mark.parametrize(
    "listed",
    [
        "k2",  # no key
        "k2:c2hvcnQ=",  # too short
        "K2:" + K2_B64,  # not a lowercase id
        "k1:" + K2_B64,  # k1 is the derived legacy key, listed bare
        "k2:" + K2_B64 + ",k1,k1",  # twice
        K2_B64,  # a key without an id
        f"{K2},{K2}",  # twice
        "k2:" + K2_B64[:-6] + "!!!!!!",  # not base64
        " , ",  # nothing listed
    ],
)
def test_bad_master_keys_are_refused_without_echoing_them(listed: str) -> None:
    with pytest.raises(KeyringError) as info:
        parse_master_keys(listed)
    text = str(info.value)
    assert K2_B64 not in text and K2_B64[:12] not in text and "c2hvcnQ" not in text


def test_newline_separated_file_and_urlsafe_base64_are_accepted(tmp_path, monkeypatch) -> None:
    urlsafe = base64.urlsafe_b64encode(bytes([250]) * 32).decode().rstrip("=")
    path = tmp_path / "master-keys"
    path.write_text(f"k4:{urlsafe}\n{K3}\n")
    path.chmod(0o600)
    monkeypatch.delenv("OPENDEUR_MASTER_KEYS", raising=False)
    monkeypatch.setenv("OPENDEUR_MASTER_KEYS_FILE", str(path))
    s = Settings(secret_key=SECRET)
    assert s.master_keys is not None and urlsafe not in repr(s)
    assert Envelope.for_service(s, "notify").key_ids == ("k4", "k3")


def test_master_keys_file_must_not_be_readable_by_others(tmp_path, monkeypatch) -> None:
    path = tmp_path / "master-keys"
    path.write_text(K3)
    path.chmod(0o644)
    monkeypatch.delenv("OPENDEUR_MASTER_KEYS", raising=False)
    monkeypatch.setenv("OPENDEUR_MASTER_KEYS_FILE", str(path))
    with pytest.raises(ValueError, match="OPENDEUR_MASTER_KEYS_FILE must not be readable") as info:
        Settings(secret_key=SECRET)
    assert K3_B64 not in str(info.value)


def test_empty_master_keys_means_unset() -> None:
    assert envelope("").key_ids == ("k1",)


def test_keys_new_prints_a_usable_entry(capsys) -> None:
    class Args:
        id = "k7"

    assert cmd_keys_new(Args()) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("k7:")
    assert [k for k, _ in parse_master_keys(line)] == ["k7"]
    assert new_master_key_line("k7") != line
    with pytest.raises(KeyringError):
        new_master_key_line("k1")
