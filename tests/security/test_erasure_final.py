"""Erasure is final: after a withdrawal or the retention sweep, an attacker holding a copy of
everything on disk (PostgreSQL's data directory with its WAL, the JetStream store, the data dir
with the key store, the logs) and every key that remains cannot open the question's data."""

from __future__ import annotations

import random
import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from opendeur.embedded import Postgres
from opendeur.keys import Envelope, KeyringError
from opendeur.settings import SERVICES, Settings
from tests.support import LINK, System, question, start_system, stop_system

# A wrapped data key: `<key id>:` + 12 bytes nonce + 32 bytes key + 16 bytes tag.
WRAPPED = re.compile(rb"(?<![a-z0-9_-])k[a-z0-9_-]{0,31}:", re.S)
WRAPPED_BODY = 12 + 32 + 16


@pytest.fixture(scope="module")
def short(tmp_path_factory: pytest.TempPathFactory, pg: Postgres) -> Iterator[System]:
    s = start_system(
        tmp_path_factory.mktemp("erasure"),
        pg,
        OPENDEUR_PII_RETENTION="2s",
        OPENDEUR_SWEEP_INTERVAL="0.5",
    )
    yield s
    stop_system(s)


def remaining_keyrings(s: System) -> list[Envelope]:
    """Every master key the running system holds, of every service."""
    env = s.env
    settings = Settings(
        _env_file=None,
        secret_key=env.get("OPENDEUR_SECRET_KEY"),
        master_keys=env.get("OPENDEUR_MASTER_KEYS"),
    )
    return [Envelope.for_service(settings, service) for service in SERVICES]


def copy_everything(s: System, dest: Path) -> list[Path]:
    """What an attacker with the disks gets: the database cluster (with pg_wal), the system's data
    dir (broker store, key store, logs). Files that vanish while copying are simply missed."""
    for name, src in (("pg", s.pg.data_dir), ("system", s.data_dir)):
        shutil.copytree(
            src,
            dest / name,
            symlinks=True,
            ignore_dangling_symlinks=True,
            dirs_exist_ok=True,
            copy_function=_copy_quietly,
        )
    return [p for p in dest.rglob("*") if p.is_file() and not p.is_symlink()]


def _copy_quietly(src: str, dst: str) -> None:
    try:
        shutil.copy2(src, dst)
    except OSError:  # sockets, files removed mid-copy
        pass


def unwrapped_keys(files: list[Path], rings: list[Envelope]) -> dict[bytes, bytes]:
    """{wrapped: data key} for every byte sequence on disk that any remaining key unwraps."""
    found: dict[bytes, bytes] = {}
    for path in files:
        data = path.read_bytes()
        for m in WRAPPED.finditer(data):
            wrapped = data[m.start() : m.end() + WRAPPED_BODY]
            if len(wrapped) < m.end() - m.start() + WRAPPED_BODY or wrapped in found:
                continue
            for ring in rings:
                try:
                    found[wrapped] = ring.unwrap(wrapped)
                    break
                except KeyringError:
                    continue
    return found


def opens(key: bytes, sealed: bytes, aad: str) -> bool:
    try:
        AESGCM(key).decrypt(sealed[:12], sealed[12:], aad.encode())
        return True
    except InvalidTag:
        return False


async def ciphertexts(s: System, qid: str) -> dict[str, bytes]:
    """What the attacker recorded while the question was live (a database read or a backup)."""
    conn = await asyncpg.connect(s.pg.url(s.database))
    try:
        row = await conn.fetchrow(
            "select phone, story from intake.question_pii where question_id = $1", uuid.UUID(qid)
        )
    finally:
        await conn.close()
    assert row is not None
    return {"phone": bytes(row["phone"]), "story": bytes(row["story"])}


async def checkpoint(s: System) -> None:
    conn = await asyncpg.connect(s.pg.url(s.database))
    try:
        await conn.execute("checkpoint")
    finally:
        await conn.close()


def canary_phone() -> tuple[str, list[bytes]]:
    digits = "1" + "".join(random.choice("0123456789") for _ in range(7))  # 06-1...: mobile
    return f"06 {digits}", [
        f"+316{digits}".encode(),
        f"06{digits}".encode(),
        f"06 {digits}".encode(),
    ]


async def attack(s: System, tmp: Path, qid: str, sealed: dict[str, bytes], plain: list[bytes]):
    """Copy the disks, try every remaining key on every wrapped key found, on the ciphertexts."""
    files = copy_everything(s, tmp)
    assert any(f.parent.name == "pg_wal" for f in files), "the copy must hold the WAL"
    keys = unwrapped_keys(files, remaining_keyrings(s))
    opened = [
        field
        for key in keys.values()
        for field, c in sealed.items()
        if opens(key, c, f"{qid}:{field}")
    ]
    leaked = [str(f.relative_to(tmp)) for f in files for p in plain if p in f.read_bytes()]
    return opened, leaked, files


async def the_data_key(s: System, tmp: Path, qid: str, sealed: dict[str, bytes]) -> bytes:
    """While the question is live, the same search must find its data key (the search works)."""
    files = copy_everything(s, tmp)
    keys = unwrapped_keys(files, remaining_keyrings(s))
    hits = [k for k in keys.values() if opens(k, sealed["phone"], f"{qid}:phone")]
    assert hits, "the live question's data key was not found on disk: the search is broken"
    return hits[0]


def assert_gone(files: list[Path], key: bytes, opened: list[str], leaked: list[str]) -> None:
    assert opened == [], f"a key left on disk still opens the question's {opened}"
    assert [str(f) for f in files if key in f.read_bytes()] == [], "the data key is on disk"
    assert leaked == [], f"the canary is on disk in plain text: {leaked}"


async def submit(s: System, c: httpx.AsyncClient) -> tuple[dict, list[bytes]]:
    phone, phone_forms = canary_phone()
    story = f"kanarie-{uuid.uuid4().hex}"
    r = await c.post(s.url("intake") + "/api/v1/questions", json=question(phone=phone, story=story))
    assert r.status_code == 202, r.text
    return r.json(), [story.encode(), *phone_forms]


async def test_after_withdrawal_no_remaining_key_opens_the_data(
    short: System, tmp_path: Path
) -> None:
    async with httpx.AsyncClient(timeout=10) as c:
        body, plain = await submit(short, c)
        qid = body["question_id"]
        sealed = await ciphertexts(short, qid)
        await checkpoint(short)
        key = await the_data_key(short, tmp_path / "before", qid, sealed)
        r = await c.delete(
            short.url("intake") + f"/api/v1/questions/{qid}",
            headers={"X-Withdraw-Token": body["withdraw_token"]},
        )
        assert r.status_code == 204
    await checkpoint(short)
    opened, leaked, files = await attack(short, tmp_path / "after", qid, sealed, plain)
    assert_gone(files, key, opened, leaked)


async def test_after_the_retention_sweep_no_remaining_key_opens_the_data(
    short: System, tmp_path: Path
) -> None:
    async with httpx.AsyncClient(timeout=10) as c:
        body, plain = await submit(short, c)
        qid = body["question_id"]
        sealed = await ciphertexts(short, qid)
        mail = await short.wait_mail(lambda m: body["reference"] in m.subject)
        link = LINK.search(mail.text).group(1)
        assert (await c.get(link)).status_code == 200
        await checkpoint(short)
        key = await the_data_key(short, tmp_path / "before", qid, sealed)
        assert (await c.post(link, data={"outcome": "reached"})).status_code < 500
        events = await short.wait_audit(qid, ["question.erased.v1"], timeout=30)
        assert next(e for e in events if e["type"] == "question.erased.v1")["reason"] == "retention"
    await checkpoint(short)
    opened, leaked, files = await attack(short, tmp_path / "after", qid, sealed, plain)
    assert_gone(files, key, opened, leaked)
