"""The batched consumer's settling rules, on stand-in messages: one apply per fetch in stream
order, an outage naks all without dead letters, a failing batch retried one message at a time;
its pull loop asks for at most the batch size and finishes a batch it is settling when stopped."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace

import nats.errors
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
        self.headers = None  # a message, not a status
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
    await b.settle(raws)  # what one fetch returned
    in_order = sorted(raws, key=lambda r: r.metadata.sequence.stream)
    assert calls == [[r.event.event_id for r in in_order]]
    assert all(r.settled == [("ack", None)] for r in raws)


class Pull:
    """The broker's connection with the server behind it, and the subscription `StandingPull`
    makes on it (what it uses of nats-py's): each request for n messages delivers up to n of
    the `queued` ones to the subscription's queue; with none left, a request delivers nothing
    and `next_msg` times out."""

    def __init__(self, queued: list[Raw]) -> None:
        self.queued = queued
        self.asked: list[int] = []
        self.replies: list[str] = []
        self.is_connected = True
        self._nuid = SimpleNamespace(next=lambda: b"NUID")
        self._pending_queue: asyncio.Queue = asyncio.Queue()
        self.unsubscribed = False

    async def subscribe(self, subject: str, **_limits) -> Pull:
        assert subject == "_INBOX_test.NUID.*"
        return self

    async def publish(self, subject: str, body: bytes, reply: str = "") -> None:
        n = json.loads(body)["batch"]
        self.asked.append(n)
        self.replies.append(reply)
        taken, self.queued = self.queued[:n], self.queued[n:]
        for raw in taken:
            self._pending_queue.put_nowait(raw)

    async def next_msg(self, timeout: float | None = None) -> Raw:
        raw = await asyncio.wait_for(self._pending_queue.get(), timeout)
        self._pending_queue.task_done()
        return raw

    async def unsubscribe(self) -> None:
        self.unsubscribed = True


def pulling(b: messaging.Batcher, js: JetStream, queued: list[Raw]) -> Pull:
    pull = Pull(queued)
    js._nc = pull
    return pull


def standing(server: Pull, batch: int) -> messaging.StandingPull:
    pull = messaging.StandingPull(server, "EVENTS", "t", "_INBOX_test.", batch)
    pull.sub = server
    return pull


async def test_each_request_asks_for_at_most_the_batch_size_and_is_applied_as_one() -> None:
    sizes: list[int] = []
    done = asyncio.Event()

    async def apply(events) -> None:
        sizes.append(len(events))
        if sum(sizes) == 10:
            done.set()

    b, js = batcher(apply, batch_size=4)
    raws = [Raw(seq) for seq in range(10)]
    pull = pulling(b, js, raws)
    task = asyncio.create_task(b.run())
    await asyncio.wait_for(done.wait(), 10)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert sizes == [4, 4, 2]
    assert set(pull.asked) == {4}
    assert all(r.settled == [("ack", None)] for r in raws)


async def test_a_stop_lets_the_batch_being_settled_commit_and_ack() -> None:
    """Cancelling the loop (the broker stopping) while a batch is applied: the batch still
    commits and every message is acked before the loop ends."""
    entered, release = asyncio.Event(), asyncio.Event()
    committed: list = []

    async def apply(events) -> None:
        entered.set()
        await release.wait()
        committed.extend(e.event_id for e in events)

    b, js = batcher(apply)
    raws = [Raw(seq) for seq in range(3)]
    pulling(b, js, raws)
    task = asyncio.create_task(b.run())
    await asyncio.wait_for(entered.wait(), 10)
    task.cancel()
    release.set()
    await asyncio.gather(task, return_exceptions=True)
    assert committed == [r.event.event_id for r in raws]
    assert all(r.settled == [("ack", None)] for r in raws)


async def test_an_outage_naks_the_whole_batch_once_and_dead_letters_nothing() -> None:
    calls = 0

    async def apply(events) -> None:
        nonlocal calls
        calls += 1
        raise ConnectionRefusedError("connect to 127.0.0.1:5432 refused")

    b, js = batcher(apply, max_deliver=1)
    b.backoff.first = 0.01
    raws = [Raw(seq, delivered=9) for seq in range(6)]
    await b.settle(raws)  # what one fetch returned
    assert calls == 1  # not retried one by one: every message would fail the same way
    assert b.hold > 0  # the next fetch waits (after the settle, so a stop never waits for it)
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
    await b.settle(raws)  # what one fetch returned
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
    await b.settle([raw])
    assert raw.settled == [("term", None)]
    assert [h["Opendeur-Reason"] for h in js.dead] == ["max_deliveries"]


async def test_an_undecodable_message_is_dead_lettered_and_its_neighbours_applied() -> None:
    seen: list = []

    async def apply(events) -> None:
        seen.extend(e.event_id for e in events)

    b, js = batcher(apply)
    raws = [Raw(seq) for seq in range(3)]
    raws[1].data = b'{"not": "an event"}'
    await b.settle(raws)  # what one fetch returned
    assert seen == [raws[0].event.event_id, raws[2].event.event_id]
    assert raws[1].settled == [("term", None)]
    assert js.dead[0]["Opendeur-Reason"].startswith("invalid:")


def status(code: str, subject: str, pending: int | None = None) -> SimpleNamespace:
    """A status the server sends to a request's reply subject."""
    headers = {
        "Status": code,
        "Description": "Request Timeout" if code == "408" else "Leadership Change",
    }
    if pending is not None:
        headers["Nats-Pending-Messages"] = str(pending)
    return SimpleNamespace(subject=subject, headers=headers, header=headers, data=b"")


async def test_one_count_for_all_open_requests_less_what_came_and_what_expired() -> None:
    """The server serves open requests in turn: two requests for 16, eight messages to each,
    then the first expires owing 8 (its 408 says so). 8 are still owed, by the second; with a
    count per request and messages set against the oldest, 16 were (the first's 8 taken from it
    already, then its 408 ignored), more than half a batch, so no request went until a
    silence."""
    server = Pull([])
    pull = standing(server, batch=16)
    await pull.request()
    await pull.request()
    first, second = server.replies
    assert first != second  # each request has a reply subject of its own
    into: list = []
    pull.take(status("100", first), into)  # an idle heartbeat changes nothing
    assert pull.owed == 32
    for n in range(16):  # in turn, eight each
        pull.take(Raw(n), into)
    assert pull.owed == 16
    pull.take(status("408", first, pending=8), into)
    assert pull.owed == 8  # the second's 8: half a batch, so the next call asks again
    pull.take(status("408", "_INBOX_test.NUID.99", pending=16), into)  # not known: nothing
    assert pull.owed == 8
    pull.take(status("408", first, pending=8), into)  # the same one twice: nothing
    assert pull.owed == 8
    assert len(into) == 16


async def test_an_expired_request_it_does_not_know_is_not_replaced() -> None:
    """Requests nats-py sent from its buffer after a reconnect are unknown here: when they
    expire, nothing replaces them, so they do not live on as a request and a 408 a second."""
    server = Pull([])
    pull = standing(server, batch=16)
    assert await pull.next_batch(wait=0.05) == []  # one request, open
    assert len(server.asked) == 1
    for n in range(30):  # thirty strangers expire
        server._pending_queue.put_nowait(status("408", f"_INBOX_test.NUID.x{n}", pending=16))
    assert await pull.next_batch(wait=0.05) == []
    assert len(server.asked) == 1  # its own is still open: nothing more asked
    assert pull.owed == 16


async def test_a_request_goes_when_half_a_batch_or_less_is_owed() -> None:
    server = Pull([Raw(seq) for seq in range(20)])
    pull = standing(server, batch=8)
    assert len(await pull.next_batch()) == 8  # the first request, delivered whole
    assert server.asked == [8]
    pull.owed = 5  # say a second request were open, owing 5
    server.queued, waiting = [], server.queued
    for raw in waiting[:3]:
        server._pending_queue.put_nowait(raw)
    assert len(await pull.next_batch()) == 3  # taken without asking again
    assert server.asked == [8]
    assert pull.owed == 2
    server.queued = waiting[3:]
    assert len(await pull.next_batch()) == 8  # two owed: asked again
    assert server.asked == [8, 8]


async def test_a_409_after_messages_gives_them_first_and_then_raises() -> None:
    server = Pull([])
    pull = standing(server, batch=16)
    await pull.request()
    raws = [Raw(1), Raw(2)]
    for raw in raws:
        server._pending_queue.put_nowait(raw)
    server._pending_queue.put_nowait(status("409", server.replies[0]))
    assert await pull.next_batch() == raws  # delivered before the leader changed: kept
    with pytest.raises(messaging.APIError):  # then the caller hears it and backs off
        await pull.next_batch()
    assert (pull.owed, pull.known) == (0, {})


async def test_nothing_is_asked_while_the_connection_is_away() -> None:
    """nats-py keeps what is published while it reconnects and sends it all afterwards."""
    server = Pull([])
    server.is_connected = False
    pull = standing(server, batch=16)
    with pytest.raises(nats.errors.ConnectionReconnectingError):
        await pull.next_batch()
    assert server.asked == []


async def test_a_stop_hands_back_what_came_after_the_last_batch() -> None:
    """Delivered while the last batch was settled, not taken: nak'ed at the stop, so it comes
    again at once (not after its ack wait), and the subscription is gone."""
    entered = asyncio.Event()

    async def apply(events) -> None:
        entered.set()
        await asyncio.sleep(0.2)

    b, js = batcher(apply, batch_size=2)
    raws = [Raw(seq) for seq in range(3)]
    server = pulling(b, js, [])
    server.queued = raws  # the first request delivers two, the third comes on its own
    task = asyncio.create_task(b.run())
    await asyncio.wait_for(entered.wait(), 10)
    server._pending_queue.put_nowait(server.queued.pop(0))
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert [r.settled for r in raws[:2]] == [[("ack", None)], [("ack", None)]]
    assert raws[2].settled == [("nak", None)]
    assert server.unsubscribed


async def test_a_stop_ends_the_loop_when_a_library_swallowed_its_cancellation() -> None:
    """Python 3.11's asyncio.wait_for, under nats-py's next_msg, can return a message that came
    as the stop's cancellation did, instead of raising it; the loop must end all the same."""
    committed: list = []

    async def apply(events) -> None:
        committed.extend(e.event_id for e in events)

    b, js = batcher(apply)
    late = Raw(1)
    pull = pulling(b, js, [])
    waiting = asyncio.Event()

    async def swallowing_next_msg(timeout: float | None = None) -> Raw:
        waiting.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            return late  # the message that arrived at the same moment, the cancellation lost
        raise AssertionError("not reached")

    pull.next_msg = swallowing_next_msg  # type: ignore[method-assign]
    task = asyncio.create_task(b.run())
    await asyncio.wait_for(waiting.wait(), 10)
    task.cancel()
    done, _ = await asyncio.wait([task], timeout=10)
    assert done, "the loop ran on after its stop"
    assert committed == [late.event.event_id]  # what it had taken was still settled
    assert late.settled == [("ack", None)]


async def test_a_409_to_each_open_request_backs_off_once() -> None:
    """A leader change ends every open request with a 409 of its own: the first is heard, the
    others name requests already counted as gone and change nothing, so the request sent
    after the back-off stays counted."""
    server = Pull([])
    pull = standing(server, batch=16)
    await pull.request()
    await pull.request()
    for reply in list(server.replies):
        server._pending_queue.put_nowait(status("409", reply))
    with pytest.raises(messaging.APIError):
        await pull.next_batch(wait=0.05)
    assert await pull.next_batch(wait=0.05) == []  # the second 409: nothing raised
    assert len(server.asked) == 3  # one new request after the first 409 ...
    assert (pull.owed, list(pull.known)) == (16, [server.replies[2]])  # ... still counted


async def test_a_failed_ack_does_not_end_the_consumer() -> None:
    """An ack (or a dead letter's publish) that raises after the batch was applied: the loop
    goes on to the next batch instead of ending (nothing would have restarted it)."""
    applied: list = []

    async def apply(events) -> None:
        applied.extend(e.event_id for e in events)

    b, js = batcher(apply, batch_size=1)
    b.backoff.pause = lambda: asyncio.sleep(0)  # type: ignore[method-assign]
    first, second = Raw(1), Raw(2)

    async def broken_ack() -> None:
        raise ConnectionError("the connection went while acking")

    first.ack = broken_ack  # type: ignore[method-assign]
    pulling(b, js, [first, second])
    task = asyncio.create_task(b.run())

    async def both_applied() -> None:
        while len(applied) < 2:
            await asyncio.sleep(0.01)

    try:
        await asyncio.wait_for(both_applied(), 10)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert applied == [first.event.event_id, second.event.event_id]
    assert second.settled == [("ack", None)]
