"""Audit migration 0002 on a real PostgreSQL: string-scalar records become objects, hashes hold."""

from __future__ import annotations

import uuid

import orjson
import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from opendeur.db import ROOT, make_engine, provision, service_url, sessionmaker
from opendeur.embedded import Postgres
from opendeur.settings import Settings
from services.audit import chain, store
from tests.support import SECRET


def upgrade_to(conn: Connection, target: str) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(ROOT / "services" / "audit" / "migrations"))
    cfg.attributes["connection"] = conn
    cfg.attributes["schema"] = "audit"
    command.upgrade(cfg, target)


INSERT = text(
    "insert into events (seq, event_id, type, occurred_at, record, prev_hash, hash) "
    "values (:seq, :id, 'group.changed.v1', now(), cast(:record as jsonb), :prev, :hash)"
)


async def test_0002_turns_string_records_into_objects_and_the_chain_still_verifies(
    pg: Postgres,
) -> None:
    database = f"od_mig_{uuid.uuid4().hex[:8]}"
    pg.ensure_database(database)
    # Roles are cluster-wide: the same secret keeps the running system's role passwords as they are.
    settings = Settings(database_url=pg.url(database), secret_key=SECRET)
    await provision(settings)
    engine = make_engine(service_url(settings, "audit"), pool_size=1, schema="audit")
    try:
        async with engine.begin() as conn:
            await conn.run_sync(upgrade_to, "0001")
            prev = chain.GENESIS
            for seq in (1, 2):
                record = {"event_id": str(uuid.uuid4()), "type": "group.changed.v1", "n": seq}
                h = chain.link_hash(prev, record)
                # The shape the first version stored: the record as one JSON string.
                as_string = orjson.dumps(orjson.dumps(record).decode()).decode()
                await conn.execute(
                    INSERT,
                    {"seq": seq, "id": record["event_id"], "record": as_string, "prev": prev}
                    | {"hash": h},
                )
                prev = h
        async with engine.begin() as conn:
            await conn.run_sync(upgrade_to, "head")
            kinds = (
                await conn.execute(text("select distinct jsonb_typeof(record) from events"))
            ).all()
            assert kinds == [("object",)]
            with pytest.raises(IntegrityError):
                async with conn.begin_nested():
                    await conn.execute(
                        INSERT,
                        {"seq": 3, "id": str(uuid.uuid4()), "record": '"{}"', "prev": prev}
                        | {"hash": "x"},
                    )
        async with sessionmaker(engine)() as session:
            assert await store.verify_trail(session, batch=1) == {"ok": True, "records": 2}
            assert [e["n"] for e in await store.events_for(session, None)] == [1, 2]
    finally:
        await engine.dispose()
