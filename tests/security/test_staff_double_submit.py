"""A coordinator's double click on "add account": the second post arrives while the first one's
insert of the name has not committed yet. Before, the second found the name free, its insert
then hit the unique index, and the 500's traceback (and PostgreSQL's own log) named the account:
personal data in the logs. Here the first post is stood in for by a transaction the test holds
open, so the race is not left to timing."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
from sqlalchemy import insert

from opendeur.db import make_engine
from services.intake import users
from tests.support import System, csrf, staff_client, until_a_lock_wait


async def test_an_account_added_while_another_add_of_its_name_commits_is_refused_and_named_nowhere(
    system: System,
) -> None:
    c = await staff_client(system, "coordinator")
    engine = make_engine(system.pg.url(system.database), pool_size=1, schema="intake")
    try:
        accounts = system.url("intake") + "/staff/accounts"
        page = await c.get(accounts)
        assert page.status_code == 200
        name = f"dubbel-{uuid.uuid4().hex[:8]}"
        form = {"csrf": csrf(page.text), "action": "add", "name": name, "roles": "phone"}
        async with engine.begin() as first:  # the first post's insert, not committed yet
            await first.execute(
                insert(users.users).values(
                    name=name,
                    roles=["telefoonvrijwilliger"],
                    staff_id=users.new_staff_id(),
                    password_hash="x",
                    must_change=True,
                )
            )
            second = asyncio.create_task(c.post(accounts, data=form, follow_redirects=False))
            # its insert waits on the name's index entry
            probe = await asyncpg.connect(system.pg.url(system.database))
            try:
                await until_a_lock_wait(probe, role="opendeur_intake", running=second)
            finally:
                await probe.close()
            assert not second.done()
        answer = await second
        assert answer.status_code == 422  # "this name exists", as for any existing name
        assert (await c.get(accounts)).text.count(f'id="account-{name}"') == 1
        await asyncio.sleep(1.0)  # the services' log lines are written
        assert name not in system.logs()
        assert name not in (system.pg.data_dir / "postgres.log").read_text(errors="replace")
    finally:
        await c.aclose()
        await engine.dispose()
