"""Group registry changes: the CSV import and pausing/resuming/leaving, each emitting group.changed.v1."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.events import GroupChanged
from opendeur import outbox
from services.routing import store, taxonomy

CSV_HEADER = [
    "group_name",
    "topics",
    "municipalities",
    "online",
    "contact_name",
    "contact_email",
    "max_open",
]
# Optional last column (files without it still import): the languages the contact person can
# call in, e.g. "nl;en", her first the one she reads in; Dutch when left out or empty.
LANGUAGES_COLUMN = "languages"
LANGUAGES = ("nl", "en")


class ImportError_(ValueError):
    """A CSV row that cannot be imported; the message names the line, never personal data."""


@dataclass(frozen=True)
class GroupRow:
    group_id: str
    name: str
    topics: list[str]
    municipalities: list[str]
    online: bool
    contact_email: str
    contact_name: str
    max_open: int
    languages: tuple[str, ...] = ("nl",)


def parse_csv(content: str) -> list[GroupRow]:
    reader = csv.DictReader(io.StringIO(content))
    header = [h.strip() for h in (reader.fieldnames or [])]
    if header not in (CSV_HEADER, [*CSV_HEADER, LANGUAGES_COLUMN]):
        raise ImportError_(
            f"the header must be: {','.join(CSV_HEADER)} (then optionally {LANGUAGES_COLUMN})"
        )
    reader.fieldnames = header
    known = taxonomy.topic_codes()
    rows = []
    for line, raw in enumerate(reader, start=2):
        topics = [t.strip() for t in (raw["topics"] or "").split(";") if t.strip()]
        unknown = [t for t in topics if t not in known]
        if unknown:
            raise ImportError_(f"line {line}: unknown topic code(s) {', '.join(unknown)}")
        online = (raw["online"] or "").strip().lower()
        if online not in ("yes", "no"):
            raise ImportError_(f"line {line}: online must be yes or no")
        try:
            max_open = int(raw["max_open"])
            if max_open < 0:
                raise ValueError
        except (TypeError, ValueError):
            raise ImportError_(f"line {line}: max_open must be a whole number, 0 or more") from None
        languages = tuple(
            dict.fromkeys(
                code.strip().lower()
                for code in (raw.get(LANGUAGES_COLUMN) or "").split(";")
                if code.strip()
            )
        ) or ("nl",)
        wrong = [code for code in languages if code not in LANGUAGES]
        if wrong:
            raise ImportError_(
                f"line {line}: languages must be codes from {', '.join(LANGUAGES)}, separated by ;"
            )
        name = (raw["group_name"] or "").strip()
        email = (raw["contact_email"] or "").strip()
        if not name or "@" not in email:
            raise ImportError_(f"line {line}: group_name and a contact_email are required")
        rows.append(
            GroupRow(
                group_id=store.slug(name),
                name=name,
                topics=topics,
                municipalities=[
                    m.strip() for m in (raw["municipalities"] or "").split(";") if m.strip()
                ],
                online=online == "yes",
                contact_email=email,
                contact_name=(raw["contact_name"] or "").strip(),
                max_open=max_open,
                languages=languages,
            )
        )
    return rows


async def import_groups(
    session: AsyncSession, rows: list[GroupRow], contact_ids: list[str]
) -> dict[str, int]:
    """Idempotent: importing the same rows twice changes nothing and emits nothing."""
    counts = {"joined": 0, "updated": 0, "unchanged": 0}
    listed: dict[str, set[str]] = {}
    spoken: dict[str, dict[str, None]] = {}  # a group calls in what its contact persons speak
    for row, contact_id in zip(rows, contact_ids, strict=True):
        listed.setdefault(row.group_id, set()).add(contact_id)
        spoken.setdefault(row.group_id, {}).update(dict.fromkeys(row.languages))
    # A contact person no longer listed for their group gets no new questions; their open
    # callbacks keep their assignment until an outcome or the deadline.
    replaced: set[str] = set()
    for row, contact_id in zip(rows, contact_ids, strict=True):
        change = await store.upsert_group(
            session,
            {
                "group_id": row.group_id,
                "name": row.name,
                "topics": row.topics,
                "municipalities": row.municipalities,
                "online": row.online,
                "languages": list(spoken[row.group_id]),
            },
        )
        contact_changed = await store.upsert_contact(
            session, contact_id, row.group_id, row.max_open, list(row.languages)
        )
        if change is None and contact_changed:
            change = "updated"
        if row.group_id not in replaced:
            replaced.add(row.group_id)
            keep = frozenset(listed[row.group_id])
            if await store.deactivate_contacts(session, row.group_id, keep) and change is None:
                change = "updated"
        counts[change or "unchanged"] += 1
        if change:
            status = (await store.set_group_status(session, row.group_id, "active")) or "active"
            await outbox.add(
                session,
                GroupChanged(group_id=row.group_id, change=change, status=status, by="import"),
            )
    return counts


async def change_status(session: AsyncSession, group_id: str, status: str, by: str) -> bool:
    prev = await store.set_group_status(session, group_id, status)
    if prev is None:
        return False
    if prev != status:
        change = {"paused": "paused", "left": "left"}.get(status, "resumed")
        await outbox.add(
            session, GroupChanged(group_id=group_id, change=change, status=status, by=by)
        )
    return True


async def prune(session: AsyncSession, keep: set[str]) -> int:
    """Groups missing from a re-import leave the network (only with --prune)."""
    left = 0
    for g in await store.public_groups(session):
        if g["group_id"] not in keep and await change_status(
            session, g["group_id"], "left", "import"
        ):
            left += 1
    return left
