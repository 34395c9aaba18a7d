"""Audit's one subscriber: every event of every stream, taken in batches, each batch one transaction."""

from __future__ import annotations

import os

from faststream import AckPolicy, Context
from faststream.nats import JStream, PullSub
from prometheus_client import Counter

from contracts.streams import EVENTS_STREAM, consumers_of
from opendeur.logging import get_logger
from opendeur.runtime import Runtime
from services.audit import allowlist, store

log = get_logger(component="audit")
DROPPED = Counter(
    "opendeur_audit_fields_dropped_total", "Fields not on the allow-list, dropped", ["type"]
)
STORED = Counter("opendeur_audit_events_stored_total", "Events appended to the trail")


def register(rt: Runtime) -> None:
    spec = consumers_of("audit")[0]
    # OPENDEUR_AUDIT_BATCH=1 gives one transaction per event: `make bench-audit` compares the two.
    batch_size = int(os.environ.get("OPENDEUR_AUDIT_BATCH", spec.batch_size))

    @rt.router.subscriber(
        spec.subject,
        stream=JStream(EVENTS_STREAM, declare=False),
        durable=spec.durable,
        pull_sub=PullSub(batch_size=batch_size, timeout=0.05, batch=True),
        ack_policy=AckPolicy.MANUAL,
        title=spec.durable,
    )
    async def ingest(message=Context("message")) -> None:
        raws = message.raw_message
        records = []
        for raw in raws:
            record, dropped = allowlist.keep(raw.subject, raw.data, raw.metadata.sequence.stream)
            if dropped:
                DROPPED.labels(type=raw.subject).inc(dropped)
            records.append(record)
        try:
            async with rt.sessions() as session, session.begin():
                stored = await store.append(session, records)
        except Exception:
            log.exception("audit_batch_failed", size=len(raws))
            for raw in raws:
                await raw.nak(delay=1.0)
            return
        STORED.inc(stored)
        for raw in raws:
            await raw.ack()
