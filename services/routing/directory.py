"""The public group directory in the shape of Open Referral HSDS 3.0, without contact persons."""

from __future__ import annotations

from contracts.directory import NETWORK_ORG_ID, directory_id
from opendeur.db import make_engine, service_url, sessionmaker
from opendeur.settings import Settings
from services.routing import store, taxonomy

NETWORK = {
    "name": "Zelfhulp Netwerk",
    "email": "info@zelfhulpnetwerk.invalid",
    "phone": "040 000 0000",
}


# HSDS service status for a group's status; "left" groups are not listed at all.
STATUS = {"active": "active", "paused": "temporarily closed", "left": "defunct"}


def hsds(groups: list[dict], settings: Settings) -> dict:
    """Organization = the network; one service per group; contact points are the network's own."""
    services = []
    for g in groups:
        sid = directory_id("service", g["group_id"])
        services.append(
            {
                "id": sid,
                "organization_id": str(NETWORK_ORG_ID),
                "name": g["name"],
                "description": g.get("description")
                or "Zelfhulpgroep: " + ", ".join(taxonomy.label(t, "nl") for t in g["topics"]),
                "status": STATUS[g["status"]],
                "email": NETWORK["email"],
                "url": settings.base_url("intake") + "/",
                "languages": [
                    {
                        "id": directory_id("language", f"{g['group_id']}:{lang}"),
                        "service_id": sid,
                        "name": lang,
                        "code": lang,
                    }
                    for lang in g["languages"]
                ],
                "phones": [
                    {
                        "id": directory_id("phone", g["group_id"]),
                        "service_id": sid,
                        "number": NETWORK["phone"],
                    }
                ],
                "service_areas": [
                    {
                        "id": directory_id("area", f"{g['group_id']}:{m}"),
                        "service_id": sid,
                        "name": m,
                    }
                    for m in g["municipalities"]
                ]
                + (
                    [
                        {
                            "id": directory_id("area", f"{g['group_id']}:online"),
                            "service_id": sid,
                            "name": "online",
                        }
                    ]
                    if g["online"]
                    else []
                ),
                "attributes": [
                    {
                        "id": directory_id("attr", f"{g['group_id']}:{t}"),
                        "link_id": sid,
                        "link_type": "service",
                        "link_entity": "service",
                        "value": t,
                        "label": taxonomy.label(t, "nl"),
                    }
                    for t in g["topics"]
                ],
            }
        )
    return {
        "organization": {
            "id": str(NETWORK_ORG_ID),
            "name": NETWORK["name"],
            "description": "Netwerk van zelfhulpgroepen.",
            "email": NETWORK["email"],
            "phones": [{"id": directory_id("phone", "network"), "number": NETWORK["phone"]}],
        },
        "services": services,
    }


async def export(settings: Settings) -> dict:
    """The directory as `opendeur groups export --hsds FILE` will write it (one-off connection)."""
    engine = make_engine(service_url(settings, "routing"), pool_size=1, schema="routing")
    try:
        async with sessionmaker(engine)() as session:
            rows = await store.public_groups(session)
    finally:
        await engine.dispose()
    return hsds(rows, settings)
