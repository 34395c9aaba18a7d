"""Operator commands on routing's own tables, for the CLI (`opendeur groups import`): one
transaction on routing's database role and nothing else."""

from __future__ import annotations

from opendeur.runtime import operator_transaction
from opendeur.settings import Settings
from services.routing import groups


async def import_groups(
    settings: Settings,
    rows: list[groups.GroupRow],
    contact_ids: list[str],
    prune: bool = False,
) -> dict[str, int]:
    """Groups and their contact persons (by pseudonymous id) from parsed CSV rows, idempotent;
    with `prune`, groups not in the file leave the network. Counts per change."""
    async with operator_transaction(settings, "routing") as session:
        counts = await groups.import_groups(session, rows, contact_ids)
        if prune:
            counts["left"] = await groups.prune(session, {r.group_id for r in rows})
    return counts
