"""Explicit acks on a real nats-server: a failing handler is retried with a delay, then dead-lettered."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator
from pathlib import Path
from uuid import uuid4

import pytest
from faststream.nats import NatsRouter

from contracts.events import ConsentWithdrawn, PiiAccessed, QuestionClosed, ReferralNoted
from contracts.streams import DEADLETTER_STREAM, EVENTS_STREAM, ConsumerSpec
from opendeur import messaging
from opendeur.embedded import NatsServer
from opendeur.settings import Settings
from tests.support import outbox_engine, wait_for


@pytest.fixture(scope="module")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[NatsServer]:
    server = NatsServer(Path(tmp_path_factory.mktemp("nats-msg"))).start()
    yield server
    server.stop()


async def run_consumer(
    server: NatsServer, spec: ConsumerSpec, handler, batches: list[int] | None = None
) -> messaging.NatsBroker:
    """`handler(event)` per event of each batch, in order; `batches` records each batch's size."""
    broker = messaging.make_broker(Settings(nats_url=server.url), "test")
    router = NatsRouter()

    async def apply(events) -> None:
        if batches is not None:
            batches.append(len(events))
        for event in events:
            await handler(event)

    messaging.subscribe(router, lambda: broker, spec, apply)
    broker.include_router(router)
    await broker.connect()
    js = messaging.jetstream(broker)
    await messaging.ensure_streams(js, manage=True)
    await js.add_consumer(EVENTS_STREAM, messaging.consumer_config(spec))
    await broker.start()
    return broker


async def test_a_handler_that_fails_twice_is_retried_and_applied_once(
    nats_server: NatsServer,
) -> None:
    spec = ConsumerSpec(
        "test", "referral.noted.v1", max_deliver=5, nak_delays_s=(0.1, 0.2), name="t-retry"
    )
    calls: list[float] = []

    async def flaky(event: ReferralNoted) -> None:
        # (the stream is fresh for this module: this is the only event the consumer sees)
        calls.append(time.monotonic())
        if len(calls) < 3:
            raise RuntimeError("database hiccup")

    broker = await run_consumer(nats_server, spec, flaky)
    js = messaging.jetstream(broker)
    dead_before = (await js.stream_info(DEADLETTER_STREAM)).state.messages
    event = ReferralNoted(referrer_kind="professional", topic="rouw", channel="web")
    await js.publish(event.subject, event.to_bytes(), headers={"Nats-Msg-Id": str(event.event_id)})

    async def settled() -> bool:
        info = await js.consumer_info(EVENTS_STREAM, spec.durable)
        return len(calls) >= 3 and info.num_ack_pending == 0 and info.num_pending == 0

    await wait_for(settled)
    await asyncio.sleep(0.5)
    assert len(calls) == 3
    assert (
        calls[1] - calls[0] >= 0.09 and calls[2] - calls[1] >= 0.19
    )  # the nak delays were honoured
    assert (await js.stream_info(DEADLETTER_STREAM)).state.messages == dead_before
    await broker.stop()


async def test_a_handler_that_keeps_failing_is_dead_lettered_after_max_deliver(
    nats_server: NatsServer,
) -> None:
    spec = ConsumerSpec(
        "test", "referral.noted.v1", max_deliver=3, nak_delays_s=(0.05,), name="t-poison"
    )
    calls: list[str] = []

    async def broken(event: ReferralNoted) -> None:
        calls.append(str(event.event_id))
        raise RuntimeError("always")

    broker = await run_consumer(nats_server, spec, broken)
    js = messaging.jetstream(broker)
    event = ReferralNoted(referrer_kind="family", topic=None, channel="phone")
    await js.publish(event.subject, event.to_bytes(), headers={"Nats-Msg-Id": str(event.event_id)})

    async def ours():
        info = await js.stream_info(DEADLETTER_STREAM)
        for seq in range(max(info.state.first_seq, 1), info.state.last_seq + 1):
            msg = await js.get_msg(DEADLETTER_STREAM, seq)
            if msg.data == event.to_bytes():
                return msg
        return None

    async def dead() -> bool:
        return await ours() is not None

    await wait_for(dead)
    msg = await ours()
    assert msg.headers["Opendeur-Reason"] == "max_deliveries"
    assert ReferralNoted.from_bytes(msg.data) == event  # kept whole, for a replay
    assert calls.count(str(event.event_id)) == 3
    await broker.stop()


async def test_a_database_outage_is_waited_out_however_many_deliveries_it_takes(
    nats_server: NatsServer,
) -> None:
    """The chaos run found events dropped after a PostgreSQL restart: every failed delivery
    counted towards max_deliver, and JetStream gave up silently. An unreachable database is the
    infrastructure's failure, not the message's: it is retried until it works."""
    spec = ConsumerSpec(
        "test", "referral.noted.v1", max_deliver=2, nak_delays_s=(0.05,), name="t-outage"
    )
    calls: list[str] = []
    event = ReferralNoted(referrer_kind="professional", topic="angst", channel="web")

    async def database_down_for_a_while(seen: ReferralNoted) -> None:
        if seen.event_id != event.event_id:
            return  # the earlier tests' events on this module's stream
        calls.append(str(seen.event_id))
        if len(calls) <= 5:
            raise ConnectionRefusedError("connect to 127.0.0.1:5432 refused")

    broker = await run_consumer(nats_server, spec, database_down_for_a_while)
    js = messaging.jetstream(broker)
    assert (await js.consumer_info(EVENTS_STREAM, spec.durable)).config.max_deliver == -1
    dead_before = (await js.stream_info(DEADLETTER_STREAM)).state.messages
    await js.publish(event.subject, event.to_bytes(), headers={"Nats-Msg-Id": str(event.event_id)})

    async def settled() -> bool:
        info = await js.consumer_info(EVENTS_STREAM, spec.durable)
        return len(calls) >= 6 and info.num_ack_pending == 0 and info.num_pending == 0

    await wait_for(settled)
    await asyncio.sleep(0.3)
    assert len(calls) == 6  # five refusals, then applied once
    assert (await js.stream_info(DEADLETTER_STREAM)).state.messages == dead_before
    await broker.stop()


async def test_an_empty_fetch_times_out_with_the_nats_error_faststream_expects(
    nats_server: NatsServer,
) -> None:
    """Without the shim in opendeur.messaging, nats-py 2.15+ raises asyncio.TimeoutError here and
    FastStream's pull loop restarts the consumer with a back-off (events then wait ~30 s)."""
    import nats
    import nats.errors

    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    await messaging.ensure_streams(js, manage=True)
    sub = await js.pull_subscribe("group.changed.v1", durable="t-empty", stream=EVENTS_STREAM)
    # FastStream passes what is left of its batch deadline, often a millisecond or less: that is
    # the exit that raised the bare TimeoutError (20 of 100 such fetches here without the shim).
    timeouts = 0
    for timeout in [0.0005, 0.001, 0.002, 0.2] * 15:
        try:
            assert await sub.fetch(batch=10, timeout=timeout) == []
        except nats.errors.TimeoutError:  # a bare TimeoutError fails the test
            timeouts += 1
    assert timeouts > 0
    await nc.close()


async def test_a_fetch_takes_already_queued_messages_without_a_task_each(
    nats_server: NatsServer,
) -> None:
    """nats-py's next_msg spends a uuid4, a task and a wait_for on every message of a batch; the
    shim in opendeur.messaging takes queued ones directly. Nothing may be lost, reordered or
    left counted as pending by it."""
    import nats

    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    await messaging.ensure_streams(js, manage=True)
    # A subject no other test here publishes: the stream is shared by the module.
    sub = await js.pull_subscribe("pii.accessed.v1", durable="t-queued", stream=EVENTS_STREAM)
    sent = []
    for _ in range(300):
        event = PiiAccessed(question_id=uuid4(), contact_id="c-1")
        sent.append(event.event_id)
        await js.publish(event.subject, event.to_bytes())

    loop = asyncio.get_running_loop()
    created = 0
    previous = loop.get_task_factory()

    def counting(loop_: asyncio.AbstractEventLoop, coro, **kwargs):
        nonlocal created
        created += 1
        return asyncio.Task(coro, loop=loop_, **kwargs)

    received = []
    loop.set_task_factory(counting)
    try:
        while len(received) < 300:
            msgs = await sub.fetch(batch=300, timeout=5)
            received += [PiiAccessed.from_bytes(m.data).event_id for m in msgs]
            for m in msgs:
                await m.ack()
    finally:
        loop.set_task_factory(previous)
    assert received == sent
    assert sub.pending_msgs == 0 and sub.pending_bytes == 0
    # Without the shim: at least two tasks per message (next_msg's and wait_for's), 600 here.
    assert created < 60, created
    await nc.close()


async def test_a_consumer_handles_its_messages_without_a_worker_thread(
    nats_server: NatsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FastStream resolves Context("message") through fast-depends, which runs a synchronous
    field in a worker thread for every message; MessageContext keeps it on the event loop."""
    import fast_depends.utils

    hops = 0
    original = fast_depends.utils.run_in_threadpool

    async def counting(*args, **kwargs):
        nonlocal hops
        hops += 1
        return await original(*args, **kwargs)

    monkeypatch.setattr(fast_depends.utils, "run_in_threadpool", counting)
    spec = ConsumerSpec("test", "consent.withdrawn.v1", name="t-no-thread")  # its own subject
    seen: list[str] = []

    async def handle(event: ConsentWithdrawn) -> None:
        seen.append(str(event.event_id))

    broker = await run_consumer(nats_server, spec, handle)
    js = messaging.jetstream(broker)
    events = [ConsentWithdrawn(question_id=uuid4(), consent_version="v1") for _ in range(40)]
    for event in events:
        await js.publish(event.subject, event.to_bytes())

    async def all_seen() -> bool:
        return len(seen) >= 40

    await wait_for(all_seen)
    await broker.stop()
    assert sorted(seen) == sorted(str(e.event_id) for e in events)
    assert hops == 0


async def test_a_poison_message_in_a_batch_fails_only_itself(nats_server: NatsServer) -> None:
    """Forty events fetched together are applied as batches (one transaction each); one event
    that always fails makes its batch fail, its neighbours are then applied one by one at once
    (each exactly once, no nak delay) and only the culprit is dead-lettered."""
    spec = ConsumerSpec(
        "test",
        "referral.noted.v1",
        max_deliver=2,
        nak_delays_s=(0.3,),
        batch_size=64,
        name="t-batch-poison",
    )
    events = [ReferralNoted(referrer_kind="family", topic="rouw", channel="web") for _ in range(40)]
    poison = events[17].event_id
    ours = {e.event_id for e in events}
    applied: list = []  # what committed: a batch's effects count only if all of it succeeded
    batches: list[int] = []
    attempts: dict = {}
    before_redelivery: list[int] = []  # neighbours applied when the culprit came back

    async def handle(event: ReferralNoted) -> None:
        if event.event_id not in ours:
            return  # the earlier tests' events on this module's stream
        attempts[event.event_id] = attempts.get(event.event_id, 0) + 1
        if event.event_id == poison:
            if attempts[poison] == 3:  # in its batch, alone, then redelivered after its nak delay
                before_redelivery.append(len(set(applied) & ours))
            raise RuntimeError("this message cannot be applied")
        pending.append(event.event_id)

    pending: list = []

    async def transactional(event: ReferralNoted) -> None:
        await handle(event)

    broker = messaging.make_broker(Settings(nats_url=nats_server.url), "test")
    router = NatsRouter()

    async def apply(batch) -> None:
        batches.append(len(batch))
        pending.clear()
        for event in batch:
            await transactional(event)
        applied.extend(pending)  # the commit

    messaging.subscribe(router, lambda: broker, spec, apply)
    broker.include_router(router)
    await broker.connect()
    js = messaging.jetstream(broker)
    await messaging.ensure_streams(js, manage=True)
    # Published before the consumer starts, so its first fetch holds them all.
    for event in events:
        await js.publish(
            event.subject, event.to_bytes(), headers={"Nats-Msg-Id": str(event.event_id)}
        )
    await js.add_consumer(EVENTS_STREAM, messaging.consumer_config(spec))
    await broker.start()

    async def culprit_dead() -> bool:
        info = await js.consumer_info(EVENTS_STREAM, spec.durable)
        return info.num_ack_pending == 0 and info.num_pending == 0

    await wait_for(culprit_dead)
    mine = [e for e in applied if e in ours]
    assert sorted(mine) == sorted(e.event_id for e in events if e.event_id != poison)
    assert len(mine) == len(set(mine)) == 39  # each neighbour applied once
    assert mine == [e.event_id for e in events if e.event_id != poison]  # in stream order
    assert max(batches) > 1  # they were applied in batches
    # Delivered max_deliver (2) times, then dead-lettered: tried in its batch, alone, alone.
    assert attempts[poison] == 3
    # The neighbours did not wait for the culprit's nak delay: all were applied before it came
    # back (an order, not a time).
    assert before_redelivery == [39]
    info = await js.stream_info(DEADLETTER_STREAM)
    reasons = []
    for seq in range(max(info.state.first_seq, 1), info.state.last_seq + 1):
        msg = await js.get_msg(DEADLETTER_STREAM, seq)
        if msg.data and ReferralNoted.from_bytes(msg.data).event_id in ours:
            reasons.append(
                (ReferralNoted.from_bytes(msg.data).event_id, msg.headers["Opendeur-Reason"])
            )
    assert reasons == [(poison, "max_deliveries")]
    await broker.stop()


async def test_the_relay_deletes_what_was_acked_and_keeps_the_rest(
    nats_server: NatsServer, pg
) -> None:
    """A batch of outbox rows is published with pipelined acks; a row whose publish fails (here:
    a subject no stream takes) stays for the next round, the acked ones are gone and are not
    published again. (The old relay rolled the whole batch back on one failure.)"""
    import nats
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import AsyncSession

    from opendeur import outbox

    async with outbox_engine(pg, "t_relay") as engine:
        nc = await nats.connect(nats_server.url)
        js = nc.jetstream()
        await messaging.ensure_streams(js, manage=True)
        try:
            good = [PiiAccessed(question_id=uuid4(), contact_id="c-relay") for _ in range(5)]
            async with AsyncSession(engine) as session, session.begin():
                await outbox.add(session, *good)
                await session.execute(
                    text(
                        "insert into outbox (event_id, subject, payload) "
                        "values (:i, 'nowhere.v1', '')"
                    ),
                    {"i": uuid4()},
                )
            before = (await js.stream_info(EVENTS_STREAM)).state.messages
            relay = outbox.Relay(engine, js)
            with pytest.raises(Exception):  # noqa: B017 (whatever nats-py raises for no stream)
                await relay.flush_once()
            async with engine.connect() as conn:
                left = (await conn.execute(text("select subject from outbox"))).scalars().all()
            assert left == ["nowhere.v1"]
            assert (await js.stream_info(EVENTS_STREAM)).state.messages == before + 5
            with pytest.raises(Exception):  # noqa: B017
                await relay.flush_once()
            assert (await js.stream_info(EVENTS_STREAM)).state.messages == before + 5
        finally:
            await nc.close()


async def test_events_one_at_a_time_are_taken_from_requests_that_stay_open(
    nats_server: NatsServer,
) -> None:
    """Forty events published one by one, with a pause longer than a request's life in the
    middle: each is handled, and the consumer asked the server once per half batch or per
    expiry at most (nats-py's fetch asked about once per event, or twice: 44 times for these
    forty before)."""
    import nats

    spec = ConsumerSpec("test", "question.closed.v1", batch_size=16, name="t-standing")
    events = [QuestionClosed(question_id=uuid4(), reason="withdrawn") for _ in range(40)]
    seen: list[str] = []
    requests: list[bytes] = []
    watcher = await nats.connect(nats_server.url)

    async def counted(msg) -> None:
        requests.append(msg.data)

    await watcher.subscribe(f"$JS.API.CONSUMER.MSG.NEXT.{EVENTS_STREAM}.{spec.durable}", cb=counted)
    await watcher.flush()

    async def handle(event: QuestionClosed) -> None:
        seen.append(str(event.event_id))

    started = time.monotonic()
    broker = await run_consumer(nats_server, spec, handle)
    js = messaging.jetstream(broker)
    try:
        for i, event in enumerate(events):
            if i == 20:  # idle past the open request's expiry: the next one still comes through
                await asyncio.sleep(messaging.PULL_EXPIRES_S * 2.5)
            await js.publish(event.subject, event.to_bytes())

            async def handled(n: int = i + 1) -> bool:
                return len(seen) >= n

            await wait_for(handled)  # one at a time: each waits for the one before
        await watcher.flush()
    finally:
        await broker.stop()
        await watcher.close()
    elapsed = time.monotonic() - started
    assert seen == [str(e.event_id) for e in events]
    # One request per eight events (half a batch) and one per expiry, and the first.
    allowed = 1 + len(events) // 8 + math.ceil(elapsed / messaging.PULL_EXPIRES_S)
    assert 1 <= len(requests) <= allowed < len(events), (len(requests), allowed)


async def test_a_restarted_server_that_forgot_the_open_request_is_asked_again(
    tmp_path: Path,
) -> None:
    """nats-server killed and started again (JetStream on disk kept): the open pull request is
    gone without a word (a server stopped gently ends it with a 409 first). The consumer
    notices the silence and asks again, so an event published after the restart is handled."""
    server = NatsServer(tmp_path / "nats").start()
    spec = ConsumerSpec("test", "consent.withdrawn.v1", name="t-restart")
    seen: list[str] = []

    async def handle(event: ConsentWithdrawn) -> None:
        seen.append(str(event.event_id))

    broker = None
    try:
        broker = await run_consumer(server, spec, handle)
        js = messaging.jetstream(broker)
        first = ConsentWithdrawn(question_id=uuid4(), consent_version="v1")
        await js.publish(first.subject, first.to_bytes())

        async def first_seen() -> bool:
            return str(first.event_id) in seen

        await wait_for(first_seen)

        async def first_acked() -> bool:  # the kill must not bring it back
            info = await js.consumer_info(EVENTS_STREAM, spec.durable)
            return info.num_ack_pending == 0 and info.num_pending == 0

        await wait_for(first_acked)
        server.stop(kill=True)
        server.start()
        after = ConsentWithdrawn(question_id=uuid4(), consent_version="v1")

        async def published() -> bool:  # the broker's connection is back
            try:
                await js.publish(
                    after.subject,
                    after.to_bytes(),
                    timeout=1,
                    headers={"Nats-Msg-Id": str(after.event_id)},  # once, however often sent
                )
            except Exception:
                return False
            return True

        await wait_for(published)

        async def after_seen() -> bool:
            return str(after.event_id) in seen

        await wait_for(after_seen)
    finally:
        if broker is not None:
            await broker.stop()
        server.stop()
    assert seen == [str(first.event_id), str(after.event_id)]
