"""The Alembic env shared by every service's migration history (one history per service)."""

from __future__ import annotations

from alembic import context


def run() -> None:
    cfg = context.config
    context.configure(
        connection=cfg.attributes["connection"],
        version_table_schema=cfg.attributes["schema"],
        transactional_ddl=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def execute_script(sql: str) -> None:
    """Run a multi-statement SQL script (asyncpg prepares single statements otherwise)."""
    from alembic import op

    try:
        from sqlalchemy.util.concurrency import await_
    except ImportError:  # SQLAlchemy 2.0
        from sqlalchemy.util import await_only as await_

    raw = op.get_bind().connection.driver_connection
    await_(raw.execute(sql))
