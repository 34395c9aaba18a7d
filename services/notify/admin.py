"""Operator commands on notify's own tables, for the CLI (`opendeur groups import`, `opendeur
contacts forget`): each opens one transaction on notify's database role and nothing else."""

from __future__ import annotations

from collections.abc import Sequence

from opendeur.keys import Envelope, pseudonym
from opendeur.runtime import operator_transaction
from opendeur.settings import Settings
from services.notify import store


async def import_addresses(settings: Settings, addresses: Sequence[store.Address]) -> int:
    """Store the contact persons' delivery addresses of a group import (encrypted; each one its
    group's contact, replacing the one stored before). Returns how many were stored."""
    envelope = Envelope.for_service(settings, "notify")
    async with operator_transaction(settings, "notify") as session:
        for address in addresses:
            await store.upsert_contact(session, envelope, address)
    return len(addresses)


async def forget_contact(settings: Settings, email: str) -> store.Forgotten:
    """Art. 17: a contact person's addresses gone at once, and their id out of the log."""
    async with operator_transaction(settings, "notify") as session:
        return await store.forget(
            session,
            Envelope.for_service(settings, "notify"),
            email,
            pseudonym(settings, "contact", email),
        )
