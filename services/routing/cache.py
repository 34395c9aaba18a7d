"""Routing's in-memory copy of the groups' matching fields, indexed so a decision reads only its own."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.routing.matching import Need
from services.routing.regions import region_of


@dataclass(frozen=True)
class GroupInfo:
    """What matching needs of a group; status and contacts are read fresh for every decision."""

    group_id: str
    topics: frozenset[str]
    municipalities: frozenset[str]
    online: bool
    languages: frozenset[str]


@dataclass
class GroupCache:
    """Groups by (topic, municipality), (topic, region) and (topic, online), at one `version`.

    The version is groups_version's counter, bumped by a trigger on every statement that
    changes groups (this instance, another instance, the CLI import); every decision reads it
    in the same query as the contacts, so a decision never uses groups older than its snapshot.
    """

    version: int | None = None
    local: dict[tuple[str, str], list[GroupInfo]] = field(default_factory=dict)
    regional: dict[tuple[str, str], list[GroupInfo]] = field(default_factory=dict)
    online: dict[str, list[GroupInfo]] = field(default_factory=dict)
    size: int = 0

    async def reload(self, session: AsyncSession) -> None:
        # The version first: a change committed in between makes the next decision reload again.
        version = (await session.execute(text("select version from groups_version"))).scalar_one()
        rows = await session.execute(
            text(
                "select group_id, topics, municipalities, online, languages from groups "
                "where status <> 'left'"
            )
        )
        self.fill(
            version,
            (
                GroupInfo(
                    r["group_id"],
                    frozenset(r["topics"]),
                    frozenset(r["municipalities"]),
                    bool(r["online"]),
                    frozenset(r["languages"]),
                )
                for r in rows.mappings()
            ),
        )

    def fill(self, version: int, groups: Iterable[GroupInfo]) -> None:
        """Replace the indexes by these groups, at this version."""
        local: dict[tuple[str, str], list[GroupInfo]] = defaultdict(list)
        regional: dict[tuple[str, str], list[GroupInfo]] = defaultdict(list)
        online: dict[str, list[GroupInfo]] = defaultdict(list)
        size = 0
        for g in groups:
            size += 1
            regions = {reg for m in g.municipalities if (reg := region_of(m)) is not None}
            for topic in g.topics:
                for m in g.municipalities:
                    local[(topic, m)].append(g)
                for reg in regions:
                    regional[(topic, reg)].append(g)
                if g.online:
                    online[topic].append(g)
        self.local, self.regional, self.online = dict(local), dict(regional), dict(online)
        self.version, self.size = version, size

    def tiers(self, need: Need) -> list[list[GroupInfo]]:
        """Candidate groups per tier (municipality, region, online), each group in its best tier.

        A superset of what matching accepts in that tier; matching still decides.
        """
        if need.topic is None:
            return [[], [], []]
        seen: set[str] = set()
        out: list[list[GroupInfo]] = []
        region = region_of(need.municipality)
        for found in (
            self.local.get((need.topic, need.municipality), []) if need.municipality else [],
            self.regional.get((need.topic, region), []) if region else [],
            self.online.get(need.topic, []),
        ):
            tier = [g for g in found if g.group_id not in seen]
            seen.update(g.group_id for g in tier)
            out.append(tier)
        return out


GROUPS = GroupCache()
