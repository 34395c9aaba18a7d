"""Master-key rotation on the whole running system, the way an existing installation upgrades:
data under today's derived key k1, k3 added as current, `keys rotate` while questions keep coming
in, every row under k3, k1 dropped from the list, and everything still opens."""

from __future__ import annotations

import asyncio
import base64
import re
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from opendeur import rotation
from opendeur.embedded import Postgres
from opendeur.keystore import FileKeyStore
from opendeur.settings import Settings
from tests.support import (
    GROUPS_CSV,
    LINK,
    SECRET,
    System,
    migrated_database,
    question,
    start_system,
    stop_system,
)

K3 = "k3:" + base64.b64encode(bytes(range(100, 132))).decode()
STORY = "Sinds het overlijden van mijn moeder slaap ik slecht"


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory, pg: Postgres) -> Iterator[System]:
    groups = GROUPS_CSV.replace("anna.rouw@example.org,3", "anna.rouw@example.org,1000")
    s = start_system(tmp_path_factory.mktemp("rotation"), pg, groups)  # no OPENDEUR_MASTER_KEYS
    yield s
    stop_system(s)


def restart_with(s: System, master_keys: str) -> None:
    """The operator's step: new key list to every service, restart (here: the whole `up`)."""
    s.extra_env["OPENDEUR_MASTER_KEYS"] = master_keys
    s.stop()
    s.start()


def settings_of(s: System) -> Settings:
    return Settings(
        _env_file=None,
        database_url=s.pg.url(s.database),
        secret_key=SECRET,
        master_keys=s.extra_env["OPENDEUR_MASTER_KEYS"],
        data_dir=s.data_dir,
    )


async def key_ids(s: System) -> dict[str, list[str]]:
    """Which master keys wrap the data keys: intake's key store (its table holds none) and
    notify's table."""
    conn = await asyncpg.connect(s.pg.url(s.database))
    try:
        in_table = await conn.fetchval(
            "select count(*) from intake.question_pii where wrapped_key is not null"
        )
        rows = await conn.fetch("select wrapped_key from notify.contacts")
    finally:
        await conn.close()
    assert in_table == 0
    keys = FileKeyStore(s.data_dir / "intake-keys")  # a process of its own beside intake
    try:
        records = [keys.get_sync(q) for q in keys.ids()]
    finally:
        keys.close()
    assert records and None not in records
    return {
        "intake.keystore": sorted({r.partition(b":")[0].decode() for r in records}),
        "notify.contacts": sorted({bytes(r[0]).partition(b":")[0].decode() for r in rows}),
    }


async def intake_has_heard_of_every_routing(s: System) -> None:
    """Before the operator's restart: a routing still in flight to intake would come back only
    after the broker's ack wait, and until then its page asks the contact to try again."""
    conn = await asyncpg.connect(s.pg.url(s.database))
    try:
        for _ in range(100):
            if not await conn.fetchval(
                "select count(*) from intake.questions where status = 'received'"
            ):
                return
            await asyncio.sleep(0.1)
        raise AssertionError("intake did not hear of every routing")
    finally:
        await conn.close()


def on(s: System, link: str) -> str:
    """The mail's link, pointed at the system's current intake address (ports change on restart)."""
    return re.sub(r"^http://127\.0\.0\.1:\d+", s.url("intake"), link)


async def ask(client: httpx.AsyncClient, s: System, story: str = STORY) -> dict:
    r = await client.post(s.url("intake") + "/api/v1/questions", json=question(story=story))
    assert r.status_code == 202, r.text
    return r.json()


async def link_for(s: System, reference: str) -> str:
    mail = await s.wait_mail(lambda m: reference in m.subject, timeout=30)
    found = LINK.search(mail.text)
    assert found, mail.text
    return found.group(1)


@pytest.mark.slow
@pytest.mark.timeout(600)  # three starts of the whole system (the operator's restarts)
async def test_rotation_rewraps_every_data_key_without_downtime(
    keyed: System, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    s = keyed
    async with httpx.AsyncClient(timeout=10) as client:
        old = [await ask(client, s, f"{STORY} ({i})") for i in range(8)]
        links = [await link_for(s, q["reference"]) for q in old]
    await intake_has_heard_of_every_routing(s)
    assert await key_ids(s) == {"intake.keystore": ["k1"], "notify.contacts": ["k1"]}

    # 1. k3 first in the list of every service; k1 (derived from the secret) stays readable.
    restart_with(s, f"{K3},k1")
    async with httpx.AsyncClient(timeout=10) as client:
        page = await client.get(on(s, links[0]))
        assert page.status_code == 200 and STORY in page.text

        # 2. rotate in small batches while the door stays open and pages keep opening.
        stop = asyncio.Event()
        seen: list[tuple[str, int, str]] = []

        async def traffic() -> None:
            i = 0
            while not stop.is_set():
                r = await client.post(
                    s.url("intake") + "/api/v1/questions", json=question(story=f"tijdens {i}")
                )
                seen.append(("post", r.status_code, r.text[:200]))
                page = await client.get(on(s, links[i % len(links)]))
                seen.append(("page", page.status_code, page.text[:200]))
                i += 1

        busy = asyncio.create_task(traffic())
        await asyncio.sleep(0.3)
        counts = await rotation.rotate(settings_of(s), batch_size=3)
        stop.set()
        await busy
        assert counts["intake"] >= len(old) and counts["notify"] == 2, counts
        assert seen and {code for _, code, _ in seen} <= {200, 202}, [
            x for x in seen if x[1] not in (200, 202)
        ]

        # Idempotent: the command finds nothing left and says so per service.
        for k, v in s.env.items():
            monkeypatch.setenv(k, v)
        monkeypatch.setenv("OPENDEUR_DATABASE_URL", s.pg.url(s.database))
        assert await asyncio.to_thread(rotation.cmd_keys_rotate, _Args()) == 0
        out = capsys.readouterr().out
        assert "intake: 0 data keys re-wrapped" in out and "notify: 0 data keys re-wrapped" in out
        assert "current master key: k3" in out

    assert await key_ids(s) == {"intake.keystore": ["k3"], "notify.contacts": ["k3"]}

    # 3. drop k1: every callback page and every contact address still opens.
    restart_with(s, K3)
    async with httpx.AsyncClient(timeout=10) as client:
        for i, link in enumerate(links):
            page = await client.get(on(s, link))
            assert page.status_code == 200, page.text
            assert f"{STORY} ({i})" in page.text
        fresh = await ask(client, s)
        mail = await s.wait_mail(lambda m: fresh["reference"] in m.subject, timeout=30)
        assert mail.to == ["anna.rouw@example.org"]  # notify opened the contact's address
        page = await client.get(on(s, LINK.search(mail.text).group(1)))
        assert page.status_code == 200 and STORY in page.text
    assert await key_ids(s) == {"intake.keystore": ["k3"], "notify.contacts": ["k3"]}
    assert K3.split(":")[1] not in s.logs()


class _Args:
    batch_size = 2


def test_keys_new_entry_works_as_a_master_key(tmp_path: Path) -> None:
    line = rotation.new_master_key_line("k9")
    s = Settings(_env_file=None, secret_key=SECRET, master_keys=line)
    assert rotation.Envelope.for_service(s, "intake").key_id == "k9"


@pytest.mark.parametrize("service", ["intake", "notify"])
async def test_every_table_that_keeps_wrapped_keys_is_rotated(pg: Postgres, service: str) -> None:
    """Each table of the migrated schema with a `wrapped_key` column is one `keys rotate`
    re-wraps: a table it leaves out holds data no one can open once the old key is dropped
    (notify's address changes and their queued mails were left out before)."""
    database, _settings = await migrated_database(pg, service)
    conn = await asyncpg.connect(pg.url(database))
    try:
        tables = await conn.fetch(
            "select table_name from information_schema.columns "
            "where table_schema = $1 and column_name = 'wrapped_key'",
            service,
        )
    finally:
        await conn.close()
    assert {r["table_name"] for r in tables} == {k.table for k in rotation.ROTATED[service]}
