"""Notify's queue of address-change mails on a real PostgreSQL: a mail that can no longer be
opened (its data key wrapped under a master key no longer configured, after a rotation that left
it out) fails on its own; the mails after it are still sent. Before, it raised inside the claim,
which rolled back, and being the oldest due it stopped every address-change mail for good."""

from __future__ import annotations

import base64

from sqlalchemy import text

from opendeur.db import sessionmaker
from opendeur.embedded import Postgres
from opendeur.keys import Envelope
from opendeur.settings import Settings
from services.notify import pending
from services.notify.channels import Rendered
from tests.support import SECRET, service_engine

DROPPED = "k9:" + base64.b64encode(bytes(range(1, 33))).decode()


def envelope(master_keys: str | None = None) -> Envelope:
    settings = Settings(_env_file=None, secret_key=SECRET, master_keys=master_keys)
    return Envelope.for_service(settings, "notify")


async def test_an_unreadable_mail_fails_alone_and_the_next_is_sent(pg: Postgres) -> None:
    mail = Rendered("Bevestig je nieuwe adres", "Klik op de link", "<p>Klik</p>")
    async with service_engine(pg, "notify", 2) as engine:
        sessions = sessionmaker(engine)
        async with sessions() as session, session.begin():
            await pending.queue_mail(
                session, envelope(DROPPED), "c-old", "confirm", "email", "oud@example.org", mail
            )
            await pending.queue_mail(
                session, envelope(), "c-new", "confirm", "email", "nieuw@example.org", mail
            )
        async with sessions() as session, session.begin():
            claimed = await pending.claim_mails(session, envelope(), 8)
        async with sessions() as session:
            rows = (
                await session.execute(
                    text(
                        "select contact_id, status, last_error, wrapped_key is null as cleared "
                        "from address_mails order by id"
                    )
                )
            ).all()
    assert [(m.contact_id, m.to) for m in claimed] == [("c-new", "nieuw@example.org")]
    assert [tuple(r) for r in rows] == [
        ("c-old", "failed", "unreadable", True),
        ("c-new", "sending", None, False),
    ]
