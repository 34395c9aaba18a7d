"""A failed statement does not repeat the values it was given (they would reach the logs).

SQLAlchemy appends every parameter of a failed statement to its message unless the engine hides
them. (asyncpg itself still names a value it could not encode for its column type: that is a
wrong type passed by our own code, not a state the data can bring about.)"""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from opendeur.db import make_engine
from opendeur.embedded import Postgres

CANARY = "Canary Jansen 06-12345678"


async def test_a_database_error_does_not_carry_the_statement_parameters(pg: Postgres) -> None:
    engine = make_engine(pg.url(), pool_size=1)
    try:
        async with engine.connect() as conn:
            with pytest.raises(DBAPIError) as caught:
                await conn.execute(text("select cast(:v as text), 1 / 0"), {"v": CANARY})
    finally:
        await engine.dispose()
    message = str(caught.value)
    assert "division by zero" in message  # the error itself is still there, readable
    assert "Canary" not in message and "12345678" not in message
