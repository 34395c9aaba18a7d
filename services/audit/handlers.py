"""Audit's one subscriber: every event of every stream, taken in batches, each batch one transaction."""

from __future__ import annotations

import asyncio
from typing import Any

from faststream import AckPolicy
from faststream.nats import JStream, PullSub
from prometheus_client import Counter

from contracts.streams import EVENTS_STREAM, consumers_of
from opendeur.logging import get_logger
from opendeur.messaging import Backoff, MessageContext, raw_only, transient
from opendeur.natsauth import inbox_prefix
from opendeur.runtime import Runtime
from services.audit import allowlist, store

log = get_logger(component="audit")
DROPPED = Counter(
    "opendeur_audit_fields_dropped_total", "Fields not on the allow-list, dropped", ["type"]
)
STORED = Counter("opendeur_audit_events_stored_total", "Events appended to the trail")
# Once it has taken everything the stream had, audit waits this long before it fetches again.
# It is off every question's way (nothing waits for the trail), so at a low rate it takes its
# events in fewer, larger batches: at 100 questions/s a batch about every 50 ms cost audit 1.5
# CPU-s per 1,000 questions, with a transaction, two pull requests and the acks each time; with
# this, 0.5 (docs/performance.md, 6 December). The live stream shows an event up to this much
# later. The batch's commit and acks go on meanwhile (`Writer`). A backlog is taken without a
# pause: a batch cut short by the acks still pending (ingest, 100,000 events: 12,000-21,000
# events/s when every batch short of 2,000 paused, 30,000 without) is followed at once.
LINGER_S = 0.25


def keep_all(raws: list[Any]) -> list[dict[str, Any]]:
    """The allow-listed record of each message, in delivery order; dropped fields counted."""
    records = []
    for raw in raws:
        record, dropped = allowlist.keep(
            raw.subject, raw.data, lambda raw=raw: raw.metadata.sequence.stream
        )
        if dropped:
            DROPPED.labels(type=raw.subject).inc(dropped)
        records.append(record)
    return records


async def take(writer: Writer, raws: list[Any]) -> None:
    """Hand a fetched batch to the writer; then, if the stream had nothing more for audit when
    its last message came (JetStream's count of the consumer's pending messages), linger."""
    await writer.submit(raws, keep_all(raws))
    if raws and raws[-1].metadata.num_pending == 0:
        await asyncio.sleep(LINGER_S)


class Writer:
    """Commits batches one at a time, in the order they were fetched, while the subscriber
    fetches and sorts out the next one: the database write of batch n overlaps the broker
    round trip and the allow-listing of batch n+1. Each batch is acked only after its commit
    and nak'ed if the commit failed; at most two batches are unacknowledged at once. After a
    failed commit the next one waits (the runtime's capped back-off): a database that is away
    is tried every few seconds, not with every batch the broker hands out again."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.pending: asyncio.Task[bool] | None = None
        self.backoff = Backoff()

    async def submit(self, raws: list[Any], records: list[dict[str, Any]]) -> None:
        await self.drain()  # the previous batch first: the chain keeps the fetch order
        self.pending = asyncio.create_task(self.commit(raws, records))

    async def drain(self) -> None:
        pending, self.pending = self.pending, None
        if pending is None:
            return
        # Shielded: a cancelled subscriber does not cut a commit short (it never raises).
        if await asyncio.shield(pending):
            self.backoff.succeeded()
        else:
            await self.backoff.pause()

    async def commit(self, raws: list[Any], records: list[dict[str, Any]]) -> bool:
        try:
            async with self.rt.sessions() as session, session.begin():
                stored = await store.append(session, records)
        except Exception as exc:
            if transient(exc):  # the database is away: one line, no traceback per batch
                log.warning("audit_batch_unavailable", size=len(raws), error=type(exc).__name__)
            else:
                log.exception("audit_batch_failed", size=len(raws))
            await _settle(raws, ok=False)
            return False
        STORED.inc(stored)
        await _settle(raws, ok=True)
        return True


async def _settle(raws: list[Any], *, ok: bool) -> None:
    """Ack (after the commit) or nak each message; if the broker connection is gone, the
    messages come back after ack_wait and are stored once (idempotent on event_id)."""
    try:
        for raw in raws:
            await (raw.ack() if ok else raw.nak(delay=1.0))
    except Exception:
        log.exception("audit_ack_failed", size=len(raws), committed=ok)


def register(rt: Runtime) -> None:
    spec = consumers_of("audit")[0]
    # OPENDEUR_AUDIT_BATCH=1 gives one transaction per event: `make bench-audit` compares the two.
    batch_size = rt.settings.audit_batch or spec.batch_size
    writer = Writer(rt)

    @rt.router.subscriber(
        spec.subject,
        stream=JStream(EVENTS_STREAM, declare=False),
        durable=spec.durable,
        pull_sub=PullSub(batch_size=batch_size, timeout=0.05, batch=True),
        inbox_prefix=f"{inbox_prefix('audit')}.".encode(),  # the only inboxes audit may use
        ack_policy=AckPolicy.MANUAL,
        decoder=raw_only,
        title=spec.durable,
    )
    async def ingest(message=MessageContext("message")) -> None:
        await take(writer, message.raw_message)
