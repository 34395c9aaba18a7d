"""A private system with short retention and a tight rate: the sweep erases, the stripped rows of
erased questions go after their own retention, floods get 429."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Connection

from opendeur.db import ROOT, make_engine, provision, service_url, sessionmaker
from opendeur.embedded import Postgres
from opendeur.keys import Envelope
from opendeur.keystore import FileKeyStore
from opendeur.settings import Settings
from services.intake import store
from tests.support import LINK, SECRET, System, question, start_system, stop_system


@pytest.fixture(scope="module")
def fast(tmp_path_factory: pytest.TempPathFactory, pg: Postgres) -> Iterator[System]:
    s = start_system(
        tmp_path_factory.mktemp("fast"),
        pg,
        OPENDEUR_PII_RETENTION="2s",
        OPENDEUR_SWEEP_INTERVAL="0.5",
        OPENDEUR_INTAKE_RATE="4/min",
        OPENDEUR_ERASED_RETENTION="3s",
        OPENDEUR_TRUSTED_PROXIES="127.0.0.1",  # the tests' X-Forwarded-For is a proxy's
    )
    yield s
    stop_system(s)


async def pii_rows(system: System, qid: str) -> int:
    conn = await asyncpg.connect(system.pg.url(system.database))
    try:
        return await conn.fetchval(
            "select count(*) from intake.question_pii where question_id = $1", uuid.UUID(qid)
        )
    finally:
        await conn.close()


async def test_after_reached_the_sweep_erases_within_the_retention(fast: System) -> None:
    canary = f"kanarie-{uuid.uuid4().hex}"
    async with httpx.AsyncClient(headers={"X-Forwarded-For": "198.18.0.1"}) as c:
        r = await c.post(
            fast.url("intake") + "/api/v1/questions", json=question(story=canary, topic="angst")
        )
        assert r.status_code == 202, r.text
        qid, ref = r.json()["question_id"], r.json()["reference"]
        assert await pii_rows(fast, qid) == 1
        mail = await fast.wait_mail(lambda m: ref in m.subject)
        link = LINK.search(mail.text).group(1)
        assert canary in (await c.get(link)).text
        done = await c.post(link, data={"outcome": "reached"})
        assert done.status_code == 200

        events = await fast.wait_audit(qid, ["callback.done.v1", "question.erased.v1"], timeout=20)
        erased = next(e for e in events if e["type"] == "question.erased.v1")
        assert erased["reason"] == "retention"
        assert await pii_rows(fast, qid) == 0
        page = await c.get(link)
        assert page.status_code == 410 and "gewist" in page.text and canary not in page.text
    assert canary not in fast.pg.dump(fast.database)


async def intake_row(system: System, qid: str) -> dict | None:
    conn = await asyncpg.connect(system.pg.url(system.database))
    try:
        row = await conn.fetchrow(
            "select * from intake.questions where question_id = $1", uuid.UUID(qid)
        )
        return dict(row) if row else None
    finally:
        await conn.close()


async def test_an_erased_question_is_stripped_at_once_and_its_row_goes_later(fast: System) -> None:
    async with httpx.AsyncClient(headers={"X-Forwarded-For": "198.18.0.4"}) as c:
        r = await c.post(
            fast.url("intake") + "/api/v1/questions",
            json=question(topic="angst", story="Ik wil niet meer leven."),
        )
        assert r.status_code == 202, r.text
        body = r.json()
        assert body["advice"]["professional_help"] is True
        row = await intake_row(fast, body["question_id"])
        assert row["topic"] == "angst" and row["pc4"] == "5611" and row["professional_help_advised"]
        gone = await c.delete(
            fast.url("intake") + f"/api/v1/questions/{body['question_id']}",
            headers={"X-Withdraw-Token": body["withdraw_token"]},
        )
        assert gone.status_code == 204
    row = await intake_row(fast, body["question_id"])
    assert row is not None and row["status"] == "erased"
    assert (row["topic"], row["pc4"], row["contact_id"], row["group_id"]) == (None,) * 4
    assert row["withdraw_token_hash"] == b"" and row["professional_help_advised"] is False
    assert await pii_rows(fast, body["question_id"]) == 0
    for _ in range(100):  # OPENDEUR_ERASED_RETENTION=3s, swept every 0.5 s
        if await intake_row(fast, body["question_id"]) is None:
            break
        await asyncio.sleep(0.1)
    assert await intake_row(fast, body["question_id"]) is None
    async with httpx.AsyncClient() as c:  # the withdraw link still gets a clear answer
        again = await c.delete(
            fast.url("intake") + f"/api/v1/questions/{body['question_id']}",
            headers={"X-Withdraw-Token": body["withdraw_token"]},
        )
    assert again.status_code == 404 and again.json()["error"] == "not_found"


async def test_floods_get_429_with_the_error_shape_and_a_friendly_page(fast: System) -> None:
    url = fast.url("intake")
    async with httpx.AsyncClient(headers={"X-Forwarded-For": "198.18.0.2"}) as c:
        statuses = [
            (await c.post(url + "/api/v1/questions", json=question(phone="1"))).status_code
            for _ in range(5)
        ]
        assert statuses == [422] * 4 + [429]
        r = await c.post(url + "/api/v1/questions", json=question())
        assert r.status_code == 429
        assert r.json()["error"] == "rate_limited" and set(r.json()) == {
            "error",
            "message",
            "field",
        }
        assert int(r.headers["retry-after"]) >= 1
        page = await c.post(url + "/?lang=en", data={"phone": "0612345678"})
        assert page.status_code == 429
        assert "Please wait a moment" in page.text
        assert "0800-0113" in page.text  # the crisis lines are on every page
        assert page.headers["content-security-policy"]
        # GET pages and other addresses are not affected.
        assert (await c.get(url + "/")).status_code == 200
    async with httpx.AsyncClient(headers={"X-Forwarded-For": "198.18.0.3"}) as other:
        r = await other.post(url + "/api/v1/questions", json=question(phone="1"))
        assert r.status_code == 422


def upgrade_intake_to(conn: Connection, target: str) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(ROOT / "services" / "intake" / "migrations"))
    cfg.attributes["connection"] = conn
    cfg.attributes["schema"] = "intake"
    command.upgrade(cfg, target)


async def test_keys_of_questions_from_before_the_key_store_move_into_it(
    pg: Postgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An installation upgrading: a row written by the old code keeps its wrapped key in the row;
    it opens before and after the sweep moves the key, and erasure then destroys it."""
    database = f"od_keys_{uuid.uuid4().hex[:8]}"
    pg.ensure_database(database)
    settings = Settings(_env_file=None, database_url=pg.url(database), secret_key=SECRET)
    await provision(settings)
    envelope = Envelope.for_service(settings, "intake")
    keys = FileKeyStore(tmp_path / "intake-keys")
    monkeypatch.setattr(store, "_keystore", keys)
    qid, now = uuid.uuid4(), datetime.now(UTC)
    key, wrapped = envelope.new_data_key()
    engine = make_engine(service_url(settings, "intake"), pool_size=1, schema="intake")
    try:
        async with engine.begin() as conn:
            await conn.run_sync(upgrade_intake_to, "0002")
            await conn.execute(
                text(
                    "insert into questions (question_id, reference, withdraw_token_hash, channel,"
                    " topic, pc4, language, consent_version, consent_at, consent_share,"
                    " consent_statistics, professional_help_advised, wants_to_start_group,"
                    " received_at, respond_before, status) values (:q, 'OD-ABCD-EFGH', :t, 'web',"
                    " 'rouw', '5611', 'nl', 'v1', :now, true, false, false, false, :now, :now,"
                    " 'routed')"
                ),
                {"q": qid, "t": b"x" * 32, "now": now},
            )
            await conn.execute(
                text(
                    "insert into question_pii (question_id, wrapped_key, phone, story) "
                    "values (:q, :w, :p, :s)"
                ),
                {
                    "q": qid,
                    "w": wrapped,
                    "p": Envelope.seal(key, "+31612345678", f"{qid}:phone"),
                    "s": Envelope.seal(key, "oud verhaal", f"{qid}:story"),
                },
            )
            await conn.run_sync(upgrade_intake_to, "head")
        sessions = sessionmaker(engine)
        async with sessions() as session:
            before = await store.read_personal(session, envelope, qid)
        assert before is not None and before.story == "oud verhaal"
        async with sessions() as session, session.begin():
            assert await store.adopt_legacy_keys(session) == 1
        async with sessions() as session, session.begin():
            assert await store.adopt_legacy_keys(session) == 0  # idempotent
        assert keys.get_sync(qid) == wrapped
        async with engine.connect() as conn:
            left = await conn.scalar(
                text("select count(*) from question_pii where wrapped_key is not null")
            )
        assert left == 0
        async with sessions() as session:
            after = await store.read_personal(session, envelope, qid)
        assert after == before
        async with sessions() as session, session.begin():
            assert await store.erase(session, qid, "withdrawn", datetime.now(UTC))
        assert keys.get_sync(qid) is None and list(keys.ids()) == []
        async with sessions() as session:
            assert await store.read_personal(session, envelope, qid) is None
    finally:
        await engine.dispose()
