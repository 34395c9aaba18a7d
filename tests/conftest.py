"""Session fixtures: one real PostgreSQL for the run; the shared system on its own database and broker."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from opendeur.embedded import Postgres
from tests.support import System, start_system, stop_system


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
