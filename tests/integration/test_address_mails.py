"""Notify's queue of address-change mails on a real PostgreSQL: a mail this process cannot open
waits or fails on its own; the mails after it are still sent. Before, it raised inside the
claim, which rolled back, and being the oldest due it stopped every address-change mail for
good. A mail under a master key this process does not know (another instance's newer key during
a rollout, or a key dropped after a rotation that left the mail out) waits, without using up
its tries, until it is an hour old; a damaged one (its text or its wrapped key) fails at once."""

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

UNKNOWN = "k9:" + base64.b64encode(bytes(range(1, 33))).decode()
MAIL = Rendered("Bevestig je nieuwe adres", "Klik op de link", "<p>Klik</p>")


def envelope(master_keys: str | None = None) -> Envelope:
    settings = Settings(_env_file=None, secret_key=SECRET, master_keys=master_keys)
    return Envelope.for_service(settings, "notify")


async def test_a_mail_this_process_cannot_open_waits_or_fails_alone(pg: Postgres) -> None:
    async with service_engine(pg, "notify", 2) as engine:
        sessions = sessionmaker(engine)
        async with sessions() as session, session.begin():
            for contact, keys in (
                ("c-unknown", UNKNOWN),
                ("c-damaged", None),
                ("c-badkey", None),
                ("c-ok", None),
            ):
                await pending.queue_mail(
                    session, envelope(keys), contact, "confirm", "email", f"{contact}@x.org", MAIL
                )
            await session.execute(  # one damaged on disk: its sealed text cut short
                text("update address_mails set content = '\\x00'::bytea where contact_id = :c"),
                {"c": "c-damaged"},
            )
            await session.execute(  # one whose wrapped key is damaged under a known key id
                text(
                    "update address_mails set wrapped_key = convert_to('k1:' || repeat('A', 60), 'UTF8') "
                    "where contact_id = :c"
                ),
                {"c": "c-badkey"},
            )
        async with sessions() as session, session.begin():
            claimed = await pending.claim_mails(session, envelope(), 8)
        async with sessions() as session:
            rows = (
                await session.execute(
                    text(
                        "select contact_id, status, last_error, wrapped_key is null as cleared, "
                        "next_attempt_at > now() + interval '30 seconds' as later, attempts "
                        "from address_mails order by id"
                    )
                )
            ).all()
        assert [(m.contact_id, m.to) for m in claimed] == [("c-ok", "c-ok@x.org")]
        assert [tuple(r) for r in rows] == [
            ("c-unknown", "queued", "unknown_key", False, True, 0),  # looked at again in a minute
            ("c-damaged", "failed", "unreadable", True, True, 1),
            ("c-badkey", "failed", "unreadable", True, True, 1),
            ("c-ok", "sending", None, False, True, 1),  # its in-flight mark (STUCK_S)
        ]

        async with sessions() as session, session.begin():  # an hour later, still unknown
            await session.execute(
                text(
                    "update address_mails set created_at = now() - interval '61 minutes', "
                    "next_attempt_at = now() where contact_id = 'c-unknown'"
                )
            )
        async with sessions() as session, session.begin():
            assert await pending.claim_mails(session, envelope(), 8) == []
        async with sessions() as session:
            status = (
                await session.execute(
                    text("select status from address_mails where contact_id = 'c-unknown'")
                )
            ).scalar_one()
        assert status == "failed"
