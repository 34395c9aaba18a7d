"""Session fixtures: one real PostgreSQL for the run; the shared system on its own database and broker."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from opendeur.db import make_engine, migrate, provision, service_url
from opendeur.embedded import Postgres
from opendeur.settings import Settings
from tests.support import SECRET, System, start_system, stop_system


@pytest.fixture(scope="session")
def pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Postgres]:
    server = Postgres(tmp_path_factory.mktemp("pg")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def system(tmp_path_factory: pytest.TempPathFactory, pg: Postgres) -> Iterator[System]:
    s = start_system(tmp_path_factory.mktemp("system"), pg)
    yield s
    stop_system(s)


@pytest.fixture
async def audit_engine(pg: Postgres) -> AsyncIterator[AsyncEngine]:
    """A fresh database with audit's schema, reached through audit's own role, as `opendeur
    serve audit` connects (COPY and the trigger need only its grants)."""
    database = f"od_audit_{uuid.uuid4().hex[:8]}"
    pg.ensure_database(database)
    settings = Settings(database_url=pg.url(database), secret_key=SECRET)
    await provision(settings)
    await migrate(settings, ("audit",))
    engine = make_engine(service_url(settings, "audit"), pool_size=4, schema="audit")
    try:
        yield engine
    finally:
        await engine.dispose()
