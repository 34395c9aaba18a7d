"""Session fixtures: one real PostgreSQL for the run; systems on their own databases and brokers."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from opendeur.embedded import NatsServer, Postgres
from tests.support import MailSink, System

GROUPS_CSV = """group_name,topics,municipalities,online,contact_name,contact_email,max_open
Rouwgroep Eindhoven,rouw,Eindhoven;Veldhoven,no,Anna Rouw,anna.rouw@example.org,3
Online Angst,angst,,yes,Bram Angst,bram.angst@example.org,100
"""


@pytest.fixture(scope="session")
def pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Postgres]:
    server = Postgres(tmp_path_factory.mktemp("pg")).start()
    yield server
    server.stop()


def make_system(tmp: Path, pg: Postgres) -> System:
    nats = NatsServer(tmp / "nats").start()
    smtp = MailSink().start()
    system = System(
        data_dir=tmp, nats=nats, pg=pg, database=f"od_{uuid.uuid4().hex[:8]}", smtp=smtp
    )
    return system


@pytest.fixture(scope="session")
def system(tmp_path_factory: pytest.TempPathFactory, pg: Postgres) -> Iterator[System]:
    tmp = tmp_path_factory.mktemp("system")
    s = make_system(tmp, pg).start()
    csv = tmp / "groups.csv"
    csv.write_text(GROUPS_CSV)
    result = s.opendeur("groups", "import", str(csv))
    assert result.returncode == 0, result.stderr
    yield s
    s.stop()
    s.smtp.stop()
    s.nats.stop()
