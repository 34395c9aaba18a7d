"""Operator commands on intake's own tables, for the CLI (`opendeur contacts reset-pin` and
`clear-hold`, the first coordinator's sign-in link `opendeur up` prints): intake's database role
only."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from opendeur.db import make_engine, service_url, sessionmaker
from opendeur.runtime import operator_transaction
from opendeur.settings import Settings
from services.intake import pins, users


async def reset_pin(settings: Settings, contact_id: str) -> bool:
    """Clear a contact person's PIN (forgotten, or locked after 5 wrong tries). True if there
    was anything to clear."""
    async with operator_transaction(settings, "intake") as session:
        return await pins.reset(session, contact_id)


async def clear_view_hold(settings: Settings, contact_id: str) -> bool:
    """After a view alert was looked into: the contact's links open questions again."""
    async with operator_transaction(settings, "intake") as session:
        return await pins.clear_hold(session, contact_id)


async def first_coordinator_link(settings: Settings) -> str | None:
    """A one-time sign-in (24 h) for the first coordinator while no coordinator has chosen a
    password yet; the account `coordinator` is made on the first start. None once one has."""
    engine = make_engine(service_url(settings, "intake"), pool_size=1, schema="intake")
    try:
        sessions = sessionmaker(engine)
        if not await users.any_with_role(sessions, "coordinator"):
            with contextlib.suppress(users.UserError):  # a `coordinator` without the role
                await users.add_user(sessions, "coordinator", ["coordinator"])
        async with sessions() as session:
            rows = (
                await session.execute(
                    select(users.users.c.name, users.users.c.must_change).where(
                        users.users.c.roles.any("coordinator"),
                        users.users.c.disabled_at.is_(None),
                    )
                )
            ).all()
        if not rows or any(not must_change for _name, must_change in rows):
            return None
        now = datetime.now(UTC)
        return await users.signin_link(sessions, rows[0][0], now, timedelta(hours=24))
    finally:
        await engine.dispose()
