"""The audit trail on the real system: tamper evidence, forged fields dropped, consent register."""

from __future__ import annotations

import os
import subprocess
import uuid

import asyncpg
import httpx
import nats
import orjson

from contracts.events import QuestionUnmatched
from opendeur.db import make_engine, sessionmaker
from opendeur.embedded import _pg_bin
from services.audit import store
from tests.support import ADMIN, LINK, System, metric, question

AUTH = {"Authorization": f"Bearer {ADMIN}"}
SLOW = 90  # seconds; other systems may share the machine


async def ask(client: httpx.AsyncClient, system: System, **overrides: object) -> dict:
    r = await client.post(system.url("intake") + "/api/v1/questions", json=question(**overrides))
    assert r.status_code == 202, r.text
    return r.json()


async def open_link(client: httpx.AsyncClient, system: System, accepted: dict) -> str:
    mail = await system.wait_mail(lambda m: accepted["reference"] in m.subject, timeout=SLOW)
    link = LINK.search(mail.text).group(1)
    assert (await client.get(link)).status_code == 200
    return link


async def verify(client: httpx.AsyncClient, system: System) -> dict:
    r = await client.get(system.url("audit") + "/api/v1/audit/verify", headers=AUTH)
    assert r.status_code == 200, r.text
    return r.json()


def audit_schema_dump(system: System) -> str:
    pg = system.pg
    args = ["-h", "127.0.0.1", "-p", str(pg.port), "-U", "postgres", "--schema", "audit"]
    return subprocess.run(
        [_pg_bin("pg_dump"), *args, "--inserts", system.database],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PGPASSWORD": pg.password},
    ).stdout


def dropped_fields(metrics_text: str, subject: str) -> float:
    return metric(metrics_text, "opendeur_audit_fields_dropped_total", type=subject) or 0.0


async def test_editing_one_stored_event_breaks_verification_at_that_seq(system: System) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        accepted = await ask(client, system)
        link = await open_link(client, system, accepted)
        assert (await client.post(link, data={"outcome": "reached"})).status_code == 200
        events = await system.wait_audit(
            accepted["question_id"], ["question.received.v1", "callback.done.v1"], timeout=SLOW
        )
        seq = next(e["seq"] for e in events if e["type"] == "question.received.v1")

        assert (await client.get(system.url("audit") + "/api/v1/audit/verify")).status_code == 401
        before = await verify(client, system)
        assert before["ok"] is True and before["records"] >= len(events)

        conn = await asyncpg.connect(system.pg.url(system.database))
        original = await conn.fetchval("select record::text from audit.events where seq = $1", seq)

        async def write(record: str) -> None:
            async with conn.transaction():
                await conn.execute("alter table audit.events disable trigger events_no_update")
                await conn.execute(
                    "update audit.events set record = cast($2 as jsonb) where seq = $1", seq, record
                )
                await conn.execute("alter table audit.events enable trigger events_no_update")

        tampered = {**orjson.loads(original), "topic": "angst"}
        assert tampered != orjson.loads(original)
        try:
            await write(orjson.dumps(tampered).decode())
            after = await verify(client, system)
            assert after["ok"] is False
            assert after["first_broken"] == {"seq": seq, "reason": "hash_mismatch"}
            assert after["records"] == seq - 1
            # The same answer however the chain is cut into batches.
            engine = make_engine(system.pg.url(system.database), pool_size=1, schema="audit")
            try:
                async with sessionmaker(engine)() as session:
                    for size in (1, 2, 3, max(seq - 1, 1), seq, 5000):
                        assert await store.verify_trail(session, batch=size) == after, size
            finally:
                await engine.dispose()
        finally:
            # Put the row back so the rest of the session sees an intact chain again.
            await write(original)
            await conn.close()
        assert (await verify(client, system))["ok"] is True


async def test_a_forged_extra_field_is_dropped_and_counted(system: System) -> None:
    canary = f"kanarie-{uuid.uuid4().hex}"
    metrics_url = system.url("audit") + "/metrics"
    async with httpx.AsyncClient(timeout=30) as client:
        before = dropped_fields((await client.get(metrics_url)).text, "question.unmatched.v1")
        event = QuestionUnmatched(
            question_id=uuid.uuid4(),
            reason="no_group",
            topic="rouw",
            municipality=None,
            priority=False,
        )
        forged = {**event.model_dump(mode="json"), "story": canary}
        nc = await nats.connect(system.nats.url)
        try:
            await nc.jetstream().publish(
                "question.unmatched.v1",
                orjson.dumps(forged),
                headers={"Nats-Msg-Id": str(event.event_id)},
            )
        finally:
            await nc.close()

        events = await system.wait_audit(
            str(event.question_id), ["question.unmatched.v1"], timeout=SLOW
        )
        assert len(events) == 1
        stored = events[0]
        assert "story" not in stored and "invalid" not in stored
        assert stored["event_id"] == str(event.event_id) and stored["reason"] == "no_group"
        assert canary not in orjson.dumps(events).decode()
        assert canary not in audit_schema_dump(system)
        after = dropped_fields((await client.get(metrics_url)).text, "question.unmatched.v1")
        assert after >= before + 1


async def test_consent_register_shows_given_accessed_withdrawn_and_erased(system: System) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        accepted = await ask(
            client,
            system,
            topic="angst",
            consent={"share_with_contact": True, "statistics": False},
        )
        qid = accepted["question_id"]
        await open_link(client, system, accepted)
        r = await client.delete(
            system.url("intake") + f"/api/v1/questions/{qid}",
            headers={"X-Withdraw-Token": accepted["withdraw_token"]},
        )
        assert r.status_code == 204, r.text
        events = await system.wait_audit(
            qid,
            ["question.routed.v1", "pii.accessed.v1", "consent.withdrawn.v1", "question.erased.v1"],
            timeout=SLOW,
        )
        contact = next(e["contact_id"] for e in events if e["type"] == "question.routed.v1")
        received = next(e for e in events if e["type"] == "question.received.v1")

        url = system.url("audit") + f"/api/v1/audit/consent/{qid}"
        assert (await client.get(url)).status_code == 401
        r = await client.get(url, headers=AUTH)
        assert r.status_code == 200, r.text
        register = r.json()
        assert register["question_id"] == qid
        given = register["given"]
        assert given["version"] == received["consent_version"]
        assert given["share_with_contact"] is True and given["statistics"] is False
        assert register["withdrawn"]["version"] == received["consent_version"]
        assert register["erased"]["reason"] == "withdrawn"
        assert [a["contact_id"] for a in register["accessed"]] == [contact]
        assert given["at"] <= register["accessed"][0]["at"] <= register["erased"]["at"]

        missing = await client.get(
            system.url("audit") + f"/api/v1/audit/consent/{uuid.uuid4()}", headers=AUTH
        )
        assert missing.status_code == 404 and missing.json()["error"] == "not_found"
        bad = await client.get(system.url("audit") + "/api/v1/audit/consent/nope", headers=AUTH)
        assert bad.status_code == 422
        assert set(bad.json()) == {"error", "message", "field"}


def gauge(metrics_text: str, name: str) -> float:
    return metric(metrics_text, name) or 0.0


async def test_the_retention_jobs_run_on_the_system_and_keep_the_recent_trail(
    system: System,
) -> None:
    """Audit's and notify's retention jobs are wired and run at start-up (then hourly); on a
    young system they prune nothing: the trail verifies from genesis, without an anchor."""
    async with httpx.AsyncClient(timeout=30) as client:
        for service, name in (
            ("audit", "opendeur_audit_retention_last_run_timestamp_seconds"),
            ("notify", "opendeur_notify_retention_last_run_timestamp_seconds"),
        ):
            text = (await client.get(system.url(service) + "/metrics")).text
            assert gauge(text, name) > 0, f"{service}'s retention job did not run"
        result = await verify(client, system)
        assert result["ok"] is True and "anchor" not in result
    failed = [e.get("task") for e in system.log_events("periodic_failed")]
    assert not {"audit_retention", "notify_retention"} & set(failed), failed
