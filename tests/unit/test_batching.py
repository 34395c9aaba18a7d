"""The batched consumer's settling rules, on stand-in messages: one apply per fetch in stream
order, an outage naks all without dead letters, a failing batch retried one message at a time."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from contracts.events import ReferralNoted
from contracts.streams import ConsumerSpec
from opendeur import messaging


class Raw:
    """What the Batcher reads of a nats-py message, and what it did with it."""

    def __init__(self, seq: int, delivered: int = 1) -> None:
        self.event = ReferralNoted(referrer_kind="family", topic="rouw", channel="web")
        self.subject = self.event.subject
        self.data = self.event.to_bytes()
        self.metadata = SimpleNamespace(
            sequence=SimpleNamespace(stream=seq), num_delivered=delivered
        )
        self.settled: list[tuple[str, float | None]] = []

    async def ack(self) -> None:
        self.settled.append(("ack", None))

    async def nak(self, delay: float | None = None) -> None:
        self.settled.append(("nak", delay))

    async def term(self) -> None:
        self.settled.append(("term", None))


class JetStream:
    def __init__(self) -> None:
        self.dead: list[dict] = []
        self._nc = SimpleNamespace(max_payload=1024 * 1024)

    async def publish(self, subject, body, headers=None, timeout=None) -> None:
        self.dead.append(headers)


def batcher(apply, **spec) -> tuple[messaging.Batcher, JetStream]:
    js = JetStream()
    broker = SimpleNamespace(config=SimpleNamespace(connection_state=SimpleNamespace(stream=js)))
    spec.setdefault("batch_size", 16)
    return messaging.Batcher(
        ConsumerSpec("test", "referral.noted.v1", **spec), lambda: broker, apply
    ), js


async def test_a_fetch_is_applied_as_one_batch_in_stream_order() -> None:
    calls: list[list] = []

    async def apply(events) -> None:
        calls.append([e.event_id for e in events])

    b, _ = batcher(apply)
    raws = [Raw(seq) for seq in (5, 3, 4, 1, 2)]  # handed over out of order
    await asyncio.gather(*(b.submit(r) for r in raws))
    in_order = sorted(raws, key=lambda r: r.metadata.sequence.stream)
    assert calls == [[r.event.event_id for r in in_order]]
    assert all(r.settled == [("ack", None)] for r in raws)


async def test_a_batch_never_exceeds_the_batch_size() -> None:
    sizes: list[int] = []

    async def apply(events) -> None:
        sizes.append(len(events))

    b, _ = batcher(apply, batch_size=4)
    await asyncio.gather(*(b.submit(Raw(seq)) for seq in range(10)))
    assert sum(sizes) == 10 and max(sizes) <= 4


async def test_an_outage_naks_the_whole_batch_once_and_dead_letters_nothing() -> None:
    calls = 0

    async def apply(events) -> None:
        nonlocal calls
        calls += 1
        raise ConnectionRefusedError("connect to 127.0.0.1:5432 refused")

    b, js = batcher(apply, max_deliver=1)
    b.backoff.first = 0.01
    raws = [Raw(seq, delivered=9) for seq in range(6)]
    await asyncio.gather(*(b.submit(r) for r in raws))
    assert calls == 1  # not retried one by one: every message would fail the same way
    assert js.dead == []
    assert all(r.settled[0][0] == "nak" and r.settled[0][1] <= 5.0 for r in raws)


async def test_a_failing_batch_is_retried_one_by_one_and_only_the_culprit_is_refused() -> None:
    raws = [Raw(seq) for seq in range(8)]
    culprit = raws[3].event.event_id
    committed: list = []

    async def apply(events) -> None:
        if any(e.event_id == culprit for e in events):
            raise ValueError("not applicable")
        committed.extend(e.event_id for e in events)

    b, js = batcher(apply, max_deliver=3, nak_delays_s=(0.7,))
    await asyncio.gather(*(b.submit(r) for r in raws))
    assert committed == [r.event.event_id for r in raws if r.event.event_id != culprit]
    assert raws[3].settled == [("nak", 0.7)]
    assert all(r.settled == [("ack", None)] for i, r in enumerate(raws) if i != 3)
    assert js.dead == []


@pytest.mark.parametrize("delivered", [3, 4])
async def test_the_culprit_is_dead_lettered_at_max_deliver(delivered: int) -> None:
    async def apply(events) -> None:
        raise ValueError("not applicable")

    b, js = batcher(apply, max_deliver=3)
    raw = Raw(1, delivered=delivered)
    await b.submit(raw)
    assert raw.settled == [("term", None)]
    assert [h["Opendeur-Reason"] for h in js.dead] == ["max_deliveries"]


async def test_an_undecodable_message_is_dead_lettered_and_its_neighbours_applied() -> None:
    seen: list = []

    async def apply(events) -> None:
        seen.extend(e.event_id for e in events)

    b, js = batcher(apply)
    raws = [Raw(seq) for seq in range(3)]
    raws[1].data = b'{"not": "an event"}'
    await asyncio.gather(*(b.submit(r) for r in raws))
    assert seen == [raws[0].event.event_id, raws[2].event.event_id]
    assert raws[1].settled == [("term", None)]
    assert js.dead[0]["Opendeur-Reason"].startswith("invalid:")
