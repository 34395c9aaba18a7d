"""The public directory's stable ids (Open Referral HSDS 3.0, routing's GET /api/v1/directory):
the network is one organization, each group one service, every id a uuid5 under the network's.
Routing mints them; staff pages elsewhere look a group's name up by the same id."""

from __future__ import annotations

import uuid

NETWORK_ORG_ID = uuid.uuid5(uuid.NAMESPACE_URL, "opendeur:organization:zelfhulpnetwerk")


def directory_id(kind: str, key: str) -> str:
    """The id of a directory entry: `directory_id("service", group_id)` for a group."""
    return str(uuid.uuid5(NETWORK_ORG_ID, f"{kind}:{key}"))
