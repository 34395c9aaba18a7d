"""Master-key rotation: `opendeur keys rotate` re-wraps every data key under the current key.

The procedure (README, "Rotating the master key"): put a new key first in OPENDEUR_MASTER_KEYS of
every service and restart them one by one; run `opendeur keys rotate`; then drop the old key.
Rotation runs beside the live services: small batches, each its own transaction, rows locked with
FOR UPDATE SKIP LOCKED (a row a service holds is simply taken in the next pass), and it is
idempotent — a second run finds nothing to do. It connects as each service's own role, and logs
counts and key ids only. Intake's data keys live in its key store (opendeur/keystore.py,
OPENDEUR_INTAKE_KEYSTORE or OPENDEUR_DATA_DIR/intake-keys), so the command must run where that
store is reachable; rows from before the key store that still carry their own key are re-wrapped
in the table as before."""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from opendeur.keys import Envelope, KeyringError, new_master_key_line
from opendeur.keystore import open_keystore, rewrap_all
from opendeur.settings import Settings


@dataclass(frozen=True)
class WrappedKeys:
    """Where a service keeps its wrapped data keys: a table of its own schema, its key column
    (the walking order) and `wrapped_key`. Only the wrapped keys change on rotation; the data
    keys, and so the encrypted phone numbers, stories and addresses, stay as they are."""

    table: str
    key: str


# Every table of a service that keeps wrapped data keys (constants: they are spliced into the
# SQL below; a test compares them with the migrated schemas). Intake's table holds keys only of
# rows from before its key store (null afterwards); notify's address changes and their mails
# hold them until they are confirmed or sent (null afterwards). Before, those two were left out:
# a mail queued at the rotation could not be opened once the old key was dropped.
ROTATED: dict[str, tuple[WrappedKeys, ...]] = {
    "intake": (WrappedKeys("question_pii", "question_id"),),
    "notify": (
        WrappedKeys("contacts", "contact_id"),
        WrappedKeys("address_changes", "contact_id"),
        WrappedKeys("address_mails", "id"),
    ),
}
PASSES = 5  # rows locked by a running service during one pass are retried in the next
_NOT_CURRENT = "substring(wrapped_key from 1 for :n) <> :prefix"


@dataclass(frozen=True)
class RewrapResult:
    rewrapped: int
    remaining: int  # still not under the current key (locked throughout, or unreadable)
    unreadable: int  # wrapped under a key id that is no longer configured, or damaged

    def __add__(self, other: RewrapResult) -> RewrapResult:
        return RewrapResult(
            self.rewrapped + other.rewrapped,
            self.remaining + other.remaining,
            self.unreadable + other.unreadable,
        )


class RotationIncomplete(RuntimeError):
    def __init__(self, counts: dict[str, int], left: dict[str, RewrapResult]) -> None:
        self.counts, self.left = counts, left
        super().__init__(
            "not every data key is under the current master key: "
            + ", ".join(
                f"{s} {r.remaining} left ({r.unreadable} unreadable)" for s, r in left.items()
            )
        )


async def pending(session: AsyncSession, envelope: Envelope, keys: WrappedKeys) -> int:
    """How many data keys are not yet wrapped under the current master key."""
    prefix = envelope.current_prefix
    result = await session.execute(
        text(f"select count(*) from {keys.table} where {_NOT_CURRENT}"),  # noqa: S608 (constants)
        {"n": len(prefix), "prefix": prefix},
    )
    return int(result.scalar_one())


async def rewrap_batch(
    session: AsyncSession, envelope: Envelope, keys: WrappedKeys, after: object | None, limit: int
) -> tuple[int, int, object | None]:
    """One batch in the caller's transaction, rows locked FOR UPDATE SKIP LOCKED so a running
    service keeps reading and writing: (re-wrapped, unreadable, last key seen)."""
    prefix = envelope.current_prefix
    params: dict = {"n": len(prefix), "prefix": prefix, "limit": limit}
    walk = ""
    if after is not None:
        walk, params["after"] = f" and {keys.key} > :after", after
    sql = (
        f"select {keys.key}, wrapped_key from {keys.table} where {_NOT_CURRENT}{walk} "  # noqa: S608 (constants)
        f"order by {keys.key} limit :limit for update skip locked"
    )
    rows = (await session.execute(text(sql), params)).all()
    updates, unreadable = [], 0
    for key, wrapped in rows:
        try:
            updates.append({"new": envelope.rewrap(wrapped), "k": key, "old": wrapped})
        except KeyringError:
            unreadable += 1
    if updates:  # one executemany for the batch
        await session.execute(
            text(
                f"update {keys.table} set wrapped_key = :new "  # noqa: S608 (constants)
                f"where {keys.key} = :k and wrapped_key = :old"
            ),
            updates,
        )
    done = len(updates)
    return done, unreadable, (rows[-1][0] if rows else None)


async def rewrap_in_batches(
    sessions: async_sessionmaker,
    envelope: Envelope,
    keys: WrappedKeys,
    batch_size: int = 100,
) -> RewrapResult:
    """Walk the table in key order, one short transaction per batch; a few passes for rows that
    were locked by a running service; then count what is still not under the current key."""
    total = unreadable = 0
    for attempt in range(PASSES):
        after: object | None = None
        unreadable = 0
        while True:
            async with sessions() as session, session.begin():
                done, bad, after = await rewrap_batch(session, envelope, keys, after, batch_size)
            total += done
            unreadable += bad
            if after is None:
                break
        async with sessions() as session:
            left = await pending(session, envelope, keys)
        if left <= unreadable:
            return RewrapResult(total, left, unreadable)
        await asyncio.sleep(0.2 * (attempt + 1))
    return RewrapResult(total, left, unreadable)


async def rotate_service(settings: Settings, service: str, batch_size: int = 100) -> RewrapResult:
    from opendeur.db import make_engine, service_url, sessionmaker

    envelope = Envelope.for_service(settings, service)
    engine = make_engine(service_url(settings, service), pool_size=1, schema=service)
    sessions = sessionmaker(engine)
    result = RewrapResult(0, 0, 0)
    try:
        for keys in ROTATED[service]:
            result += await rewrap_in_batches(sessions, envelope, keys, batch_size)
    finally:
        await engine.dispose()
    if service != "intake":
        return result
    return result + RewrapResult(*await rewrap_all(open_keystore(settings), envelope))


async def rotate(settings: Settings, batch_size: int = 100) -> dict[str, int]:
    """Re-wrap every data key not under the current master key; {service: keys re-wrapped}.
    Raises RotationIncomplete (after doing all it could) when some keys are still left."""
    counts: dict[str, int] = {}
    left: dict[str, RewrapResult] = {}
    for service in ROTATED:
        result = await rotate_service(settings, service, batch_size)
        counts[service] = result.rewrapped
        if result.remaining:
            left[service] = result
    if left:
        raise RotationIncomplete(counts, left)
    return counts


def cmd_keys_rotate(args: argparse.Namespace) -> int:
    settings = Settings()
    batch_size = int(getattr(args, "batch_size", None) or 100)
    try:
        current = Envelope.for_service(settings, "intake").key_id
        counts = asyncio.run(rotate(settings, batch_size))
    except KeyringError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except RotationIncomplete as exc:
        for service, n in exc.counts.items():
            print(f"{service}: {n} data keys re-wrapped")
        print(f"error: {exc}; run `opendeur keys rotate` again", file=sys.stderr)
        return 1
    print(f"current master key: {current}")
    for service, n in counts.items():
        print(f"{service}: {n} data keys re-wrapped")
    print("every data key is under the current master key; older keys may now be removed")
    return 0


def cmd_keys_new(args: argparse.Namespace) -> int:
    key_id = getattr(args, "id", None) or "k" + datetime.now(UTC).strftime("%Y%m%d")
    try:
        line = new_master_key_line(key_id)
    except KeyringError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(line)
    print(
        "put this entry first in OPENDEUR_MASTER_KEYS (or its _FILE, chmod 600) of every service,"
        " keep the old entries after it, restart the services, then run `opendeur keys rotate`",
        file=sys.stderr,
    )
    return 0
