"""Broker plumbing: connect, declare streams and consumers, subscribe with explicit acks."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import Awaitable, Callable
from functools import cache
from pathlib import Path
from typing import Any

import asyncpg
import nats.errors
import sqlalchemy.exc
from faststream import Context as context_field
from faststream.nats import (
    ConsumerConfig,
    NatsBroker,
    NatsRouter,
    NatsUserPassword,
)
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy as JsAckPolicy,
)
from nats.js.api import (
    DeliverPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.client import (
    DEFAULT_JS_SUB_PENDING_BYTES_LIMIT,
    DEFAULT_JS_SUB_PENDING_MSGS_LIMIT,
)
from nats.js.errors import APIError, FetchTimeoutError, NotFoundError
from pydantic import ValidationError

from contracts.events import Event, decode
from contracts.streams import (
    CONSUMERS,
    EVENTS_STREAM,
    STREAMS,
    ConsumerSpec,
    StreamSpec,
    consumers_of,
    deadletter_subject,
)
from opendeur import metrics, natsauth
from opendeur.logging import get_logger
from opendeur.settings import Settings, get_settings, parse_duration
from opendeur.tasks import Watch

log = get_logger(component="messaging")


def _patch_pull_fetch() -> None:
    """nats-py 2.15+ raises a bare asyncio.TimeoutError from three exits of PullSubscription.fetch
    (nats-io/nats.py#1008, open); FastStream's pull loop catches only nats.errors.TimeoutError, so
    its supervisor restarted our consumers with a back-off and events waited up to ~30 s. Restore
    the documented exception type until the upstream fix lands."""
    pull = JetStreamContext.PullSubscription
    if getattr(pull.fetch, "_opendeur_shim", False):
        return
    original = pull.fetch

    async def fetch(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return await original(self, *args, **kwargs)
        except nats.errors.TimeoutError:
            raise
        except TimeoutError as exc:
            raise FetchTimeoutError from exc

    fetch._opendeur_shim = True  # type: ignore[attr-defined]
    pull.fetch = fetch


_patch_pull_fetch()


def _patch_next_msg() -> None:
    """A pull fetch takes its messages one `Subscription.next_msg` at a time, and nats-py pays
    for each with a uuid4, a task and an `asyncio.wait_for` even when the message is already in
    the subscription's queue, as all but the first of a batch are: about a sixth of audit's CPU
    at ingest (py-spy, `opendeur bench --audit-only --profile audit`). A queued message is taken
    directly, with the same bookkeeping as nats-py's own path; an empty queue, a closed
    connection or a callback subscription go to the original unchanged."""
    from nats.aio.subscription import Subscription

    if getattr(Subscription.next_msg, "_opendeur_shim", False):
        return
    original = Subscription.next_msg

    async def next_msg(self: Any, timeout: float | None = 1.0) -> Any:  # noqa: ASYNC109 (nats-py signature)
        # Internals of nats-py 2.x: should a later version rename them, take its own path.
        queue = getattr(self, "_pending_queue", None)
        if (
            queue is not None
            and getattr(self, "_cb", True) is None
            and hasattr(self, "_pending_size")
            and not queue.empty()
            and not self._conn.is_closed
        ):
            msg = queue.get_nowait()
            self._pending_size -= len(msg.data)
            queue.task_done()
            return msg
        return await original(self, timeout)

    next_msg._opendeur_shim = True  # type: ignore[attr-defined]
    Subscription.next_msg = next_msg


_patch_next_msg()


class Broker(NatsBroker):
    """FastStream's NatsBroker that also runs our batched pull consumers (`subscribe`): started
    with the broker, cancelled before it stops."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.batchers: list[Batcher] = []
        self.pulls: list[asyncio.Task[None]] = []
        self.watch = Watch()

    async def start(self) -> None:
        await super().start()
        self.batchers += [b for b in _unbound if b.broker_ref() is self]
        _unbound[:] = [b for b in _unbound if b.broker_ref() is not self]
        self.pulls = [
            self.watch.start(b.run(), f"consumer:{b.spec.durable}") for b in self.batchers
        ]

    async def stop(self, *args: Any, **kwargs: Any) -> None:
        for task in self.pulls:
            task.cancel()
        for task in self.pulls:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.pulls = []
        await super().stop(*args, **kwargs)


def make_broker(settings: Settings, service: str) -> Broker:
    if not settings.nats_url:
        raise RuntimeError("set OPENDEUR_NATS_URL (or run `opendeur up`)")
    kwargs: dict[str, Any] = {}
    if settings.nats_auth == "derived":
        from opendeur.natsauth import password

        kwargs["security"] = NatsUserPassword(
            username=service, password=password(settings, service)
        )
    elif settings.nats_user:
        secret = settings.nats_password.get_secret_value() if settings.nats_password else ""
        kwargs["security"] = NatsUserPassword(username=settings.nats_user, password=secret)
    return Broker(
        settings.nats_url.split(","),
        name=f"opendeur-{service}",
        inbox_prefix=natsauth.inbox_prefix(service),
        allow_reconnect=True,
        max_reconnect_attempts=-1,
        reconnect_time_wait=1,
        connect_timeout=2,
        log_level=10,  # FastStream's per-message logs go to DEBUG, not INFO
        graceful_timeout=10.0,
        **kwargs,
    )


def jetstream(broker: NatsBroker) -> JetStreamContext:
    return broker.config.connection_state.stream


def connection(broker: NatsBroker) -> Any:
    """The broker's nats-py client (None before it connected), for a plain subscription."""
    return getattr(broker, "_connection", None)


def is_connected(broker: NatsBroker) -> bool:
    conn = connection(broker)
    return bool(conn is not None and conn.is_connected)


class BrokerClosed(ConnectionError):
    """The broker's client closed for good: it connects again only in a new process."""


async def until_closed(broker: NatsBroker, ready: asyncio.Event, every: float = 2.0) -> None:
    """Return never while the broker's client lives (connected or reconnecting); raise
    BrokerClosed once it closed for good. nats-py closes it, instead of reconnecting, on a server
    error it does not retry while connected, such as an authorization violation after the
    server's users changed: the service then accepted questions and published, consumed and
    timed nothing until someone restarted it. Cancelled before the broker's own stop."""
    await ready.wait()
    while True:
        conn = connection(broker)
        if conn is not None and conn.is_closed:
            raise BrokerClosed("the NATS client closed for good")
        await asyncio.sleep(every)


def stream_max_age(spec: StreamSpec, settings: Settings | None) -> float:
    """The stream's max_age in seconds: the operator's OPENDEUR_* setting, else the contract's."""
    value = getattr(settings, spec.setting, None) if settings and spec.setting else None
    return parse_duration(value).total_seconds() if value else spec.max_age_s


async def ensure_streams(
    js: JetStreamContext,
    replicas: int = 1,
    manage: bool = False,
    settings: Settings | None = None,
) -> None:
    """Create missing streams of the contract (idempotent); `manage` (admin) also updates them,
    so a changed max_age reaches an existing stream at the next `opendeur migrate` or `up`."""
    for spec in STREAMS:
        config = StreamConfig(
            name=spec.name,
            subjects=list(spec.subjects),
            description=spec.description,
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            num_replicas=replicas,
            duplicate_window=spec.duplicate_window_s,
            max_age=stream_max_age(spec, settings),
        )
        try:
            info = await js.stream_info(spec.name)
            if manage:
                await js.update_stream(config)
            elif abs((info.config.max_age or 0) - (config.max_age or 0)) > 1:
                # A service's broker user may not change streams: the admin does, at migrate.
                log.warning("stream_outdated", stream=spec.name, hint="run opendeur migrate")
        except NotFoundError:
            await js.add_stream(config)


def consumer_config(spec: ConsumerSpec) -> ConsumerConfig:
    return ConsumerConfig(
        durable_name=spec.durable,
        # With a name, nats-py creates it on $JS.API.CONSUMER.CREATE.<stream>.<name>.<filter>,
        # the one form a service's broker account may use (opendeur/natsauth.py).
        name=spec.durable,
        filter_subject=spec.filter_subject,
        ack_policy=JsAckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.ALL,
        # Unlimited on the server: a database outage must never use up a message's deliveries
        # (JetStream would then drop it silently, to an advisory). `subscribe` dead-letters a
        # message itself when a failure that was not the infrastructure's comes at or after
        # delivery spec.max_deliver. Deliveries during an outage count too (JetStream's own
        # count), so after a long one the message's first failure of its own dead-letters it.
        max_deliver=-1,
        ack_wait=spec.ack_wait_s,
        max_ack_pending=max(1000, spec.batch_size * 4),
        description=f"{spec.service} consumes {spec.subject}",
    )


async def ensure_consumers(js: JetStreamContext, service: str | None = None) -> None:
    for spec in CONSUMERS if service is None else consumers_of(service):
        config = consumer_config(spec)
        try:
            await js.consumer_info(EVENTS_STREAM, spec.durable)
        except NotFoundError:
            await js.add_consumer(EVENTS_STREAM, config)


DEADLETTER_HEADROOM = 4096


async def dead_letter(js: JetStreamContext, spec: ConsumerSpec, raw: Any, reason: str) -> None:
    meta = raw.metadata
    headers = {
        "Opendeur-Reason": reason,
        "Opendeur-Subject": raw.subject,
        "Opendeur-Consumer": spec.durable,
        "Opendeur-Stream-Seq": str(meta.sequence.stream),
        "Nats-Msg-Id": f"dl-{spec.durable}-{meta.sequence.stream}",
    }
    body = raw.data
    # The server counts headers against max_payload too: a forged message near the limit would
    # otherwise make the dead letter itself too big, and the server closes our whole connection.
    # The original stays in OPENDEUR_EVENTS at its stream sequence.
    max_payload = getattr(getattr(js, "_nc", None), "max_payload", 0) or 1024 * 1024
    if len(body) > max_payload - DEADLETTER_HEADROOM:
        headers["Opendeur-Body-Omitted"] = str(len(body))
        body = b""
    await js.publish(deadletter_subject(spec.durable), body, headers=headers, timeout=5.0)
    metrics.DEAD_LETTERS.labels(consumer=spec.durable, reason=reason).inc()
    log.warning(
        "dead_lettered", consumer=spec.durable, reason=reason, stream_seq=meta.sequence.stream
    )


@cache
def _failpoint() -> tuple[str | None, Path]:
    """The settings' failpoint and data directory, read once: a process is started with them,
    and crash_point runs after every handled batch."""
    settings = get_settings()
    return settings.failpoint, settings.data_dir


def crash_point(name: str) -> None:
    """Fault injection for the tests that prove recovery: with OPENDEUR_FAILPOINT=NAME the process
    dies here at once (like kill -9), once per data directory. Never set in production."""
    failpoint, data_dir = _failpoint()
    if failpoint != name:
        return
    marker = data_dir / f"failpoint-{name.replace(':', '-')}"
    if marker.exists():
        return
    marker.write_text("fired\n")
    log.warning("failpoint_crash", failpoint=name)
    os._exit(137)


TRANSIENT_MAX_DELAY_S = 5.0
_TRANSIENT = (
    OSError,  # connection refused or reset (ConnectionError is one)
    TimeoutError,
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,  # shutting down, starting up (class 57)
    asyncpg.exceptions.InterfaceError,
    nats.errors.Error,
)


class Backoff:
    """A consumer's pause after failures of the infrastructure: 0.5 s, doubling to at most
    `cap`, back to nothing after a success. Handlers failing together (one fetched batch) share
    one pause and count as one failure, so while the database or broker is away a consumer
    tries about once per `cap` seconds instead of taking message after message to fail."""

    def __init__(self, first: float = 0.5, cap: float = TRANSIENT_MAX_DELAY_S) -> None:
        self.first = first
        self.cap = cap
        self.delay = 0.0
        self.until = 0.0

    def failed(self) -> float:
        """Seconds to wait from now (the same end for failures of the same round)."""
        now = time.monotonic()
        if now >= self.until:
            self.delay = min(self.delay * 2, self.cap) if self.delay else self.first
            self.until = now + self.delay
        return self.until - now

    def succeeded(self) -> None:
        self.delay = 0.0
        self.until = 0.0

    async def pause(self) -> None:
        await asyncio.sleep(self.failed())


def transient(exc: BaseException) -> bool:
    """A failure of the infrastructure (database or broker unreachable, restarting), not of the
    message: retried without limit, never dead-lettered."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return False
        if isinstance(seen, _TRANSIENT):
            return True
        if isinstance(seen, sqlalchemy.exc.DBAPIError) and seen.connection_invalidated:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


# faststream.Context is a factory; the class it returns lives in a private module.
Context = type(context_field())


class MessageContext(Context):  # type: ignore[misc,valid-type]
    """FastStream's `Context("message")`, resolved on the event loop.

    fast-depends runs a custom field's synchronous `use` through `anyio.to_thread` (FastStream
    0.7, fast-depends 3.0): a thread hop for every message that only reads a context variable,
    3-5 % of routing's and notify's samples in the bench profiles, plus the worker threads
    waking. An async `use` is awaited in place."""

    async def use(self, /, **kwargs: Any) -> dict[str, Any]:  # type: ignore[override]
        return Context.use(self, **kwargs)


async def raw_only(_message: object) -> None:
    """A decoder for handlers that read the raw message themselves: FastStream otherwise
    JSON-decodes every body once before the contract's decoder parses it again."""
    return None


# Applies a batch of decoded events in one transaction (the runtime's inbox, handlers, outbox
# and commit); raises if any of them fails, and then nothing of the batch is applied.
BatchHandler = Callable[[list[Event]], Awaitable[None]]
# All consumers of one process together hold at most this many database connections, so a
# backlog of events can never take the pool from the HTTP requests (the door stays open).
HANDLER_CONCURRENCY = 8
# How long a stopping consumer waits for the batch it is settling (a graceful stop).
SETTLE_ON_STOP_S = 10.0
_slots: asyncio.Semaphore | None = None
# Batchers subscribed but not yet started: their broker takes them at its start.
_unbound: list[Batcher] = []


def _handler_slots() -> asyncio.Semaphore:
    global _slots
    if _slots is None:
        _slots = asyncio.Semaphore(HANDLER_CONCURRENCY)
    return _slots


# A standing pull request's lifetime: the server ends it then with a 408, and a new one goes
# (as often as nats-py's `fetch(timeout=1.0)` asked before, when nothing arrives).
PULL_EXPIRES_S = 1.0
# Connected, nothing waiting and nothing heard this long: the server lost the open requests
# (it was killed, or a leader moved), so they count as gone and a new one goes.
PULL_SILENT_S = PULL_EXPIRES_S + 1.0
# Requests delivered whole end without a status: the reply subjects of only this many of the
# latest are kept to recognise the 408 that ends one (a request lives a second at most).
KNOWN_REQUESTS = 1024


class StandingPull:
    """A durable pull consumer's deliveries through requests that stay open (as nats.go's
    `Consume` does), for `Batcher`.

    nats-py's `fetch` asks the server twice for each batch: a no-wait request, which at a low
    rate finds nothing and gets a 404 back, then a waiting one, which the next message ends. A
    message alone in its batch cost two requests and a status, in the service and in
    nats-server. Here a request for `batch` messages stays open until it delivered them or
    expired (`PULL_EXPIRES_S`, a 408); another one goes when the open ones owe half a batch or
    less. Messages that arrive while a batch is being settled wait in the subscription's queue
    for the next `next_batch`: at most a batch and a half are delivered and not yet taken.

    Each request has a reply subject of its own under one wildcard subscription, so a status
    names the request it ends. A request this object does not know (one nats-py sent from its
    buffer after a reconnect, or one counted as gone after a silence) is never replaced when it
    ends; with a single reply subject, every such request was replaced at each expiry, forever
    (a helper's review: 30 requests a second after a minute's outage). Messages name no request,
    and the server serves open requests in turn, so one count is kept for all of them: what
    was asked for, less what came, less what each known request still owed when it expired (its
    408 says). A count per request, messages set against the oldest, could stay too high once the
    server served them in turn, and then no request went until a silence (a second review)."""

    def __init__(self, nc: Any, stream: str, durable: str, prefix: str, batch: int) -> None:
        self.nc = nc
        self.next_subject = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{durable}"
        self.base = f"{prefix}{nc._nuid.next().decode()}"
        self.batch = batch
        self.sub: Any = None
        self.owed = 0  # messages the open requests may still deliver
        # The reply subjects of requests sent and not ended by a status (a request delivered
        # whole ends without one, so only the latest KNOWN_REQUESTS are kept).
        self.known: dict[str, None] = {}
        self.heard = 0.0  # monotonic time of the last request sent or delivery received
        self.requests = 0  # requests sent (for tests and curiosity)
        self.ended: APIError | None = None  # a status that ended the requests, raised next

    async def start(self) -> StandingPull:
        self.sub = await self.nc.subscribe(
            f"{self.base}.*",
            # nats-py's own limits for a pull subscription, not copies of them
            pending_msgs_limit=DEFAULT_JS_SUB_PENDING_MSGS_LIMIT,
            pending_bytes_limit=DEFAULT_JS_SUB_PENDING_BYTES_LIMIT,
        )
        return self

    async def request(self) -> None:
        if not self.nc.is_connected:  # nats-py would buffer it and send it after a reconnect
            raise nats.errors.ConnectionReconnectingError
        self.requests += 1
        reply = f"{self.base}.{self.requests}"
        body = {"batch": self.batch, "expires": int(PULL_EXPIRES_S * 1e9)}
        await self.nc.publish(self.next_subject, json.dumps(body).encode(), reply=reply)
        self.owed += self.batch
        self.known[reply] = None
        if len(self.known) > KNOWN_REQUESTS:
            del self.known[next(iter(self.known))]
        self.heard = time.monotonic()

    def forget(self) -> None:
        """Count every open request as gone."""
        self.owed = 0
        self.known.clear()

    def take(self, msg: Any, into: list[Any]) -> None:
        """Count one delivery: a message goes `into` the batch; a status ends its request."""
        status = JetStreamContext.is_status_msg(msg)
        if not status:
            into.append(msg)
            self.owed = max(0, self.owed - 1)
            return
        if status == "100":  # an idle heartbeat
            return
        if msg.subject not in self.known:  # a request not counted: nothing to take off
            return
        del self.known[msg.subject]
        if status == "408":  # it expired owing what the header says
            pending = (msg.headers or {}).get("Nats-Pending-Messages", "")
            owed = int(pending) if pending.isdigit() else self.batch
            self.owed = max(0, self.owed - owed)
            return
        # 409 and the like: the server ended it, and often every other one (a shutdown, a
        # leader change, the consumer deleted: a 409 to each); the caller hears it and backs
        # off once. The others' 409s then name requests already counted as gone.
        self.forget()
        description = (msg.headers or {}).get("Description", "")
        self.ended = APIError(
            code=int(status) if status.isdigit() else None, description=description
        )

    async def next_batch(self, wait: float = 1.0) -> list[Any]:
        """What has been delivered, up to a batch, after waiting up to `wait` seconds for the
        first message; [] when none came. Raises what ended the requests (a 409) once the
        messages delivered before it were taken."""
        queue = self.sub._pending_queue
        msgs: list[Any] = []
        deadline = time.monotonic() + wait
        while not msgs:
            if self.ended is not None:
                ended, self.ended = self.ended, None
                raise ended
            if queue.empty() and time.monotonic() - self.heard > PULL_SILENT_S:
                self.forget()
            if self.owed <= self.batch // 2:
                await self.request()
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                msg = await self.sub.next_msg(timeout=left)
            except (TimeoutError, nats.errors.TimeoutError):
                break
            self.heard = time.monotonic()
            self.take(msg, msgs)
            while len(msgs) < self.batch and not queue.empty() and self.ended is None:
                self.take(await self.sub.next_msg(), msgs)
        return msgs

    async def close(self) -> None:
        """Stop the deliveries and hand back, for redelivery at once, what came and was not
        taken (it would otherwise wait out its ack wait, and nats-py's drain at stop would wait
        for it)."""
        if self.sub is None:
            return
        sub, self.sub = self.sub, None
        queue = sub._pending_queue
        with contextlib.suppress(Exception):
            await sub.unsubscribe()
        while not queue.empty():
            msg = queue.get_nowait()
            queue.task_done()
            if not JetStreamContext.is_status_msg(msg):
                with contextlib.suppress(Exception):
                    await msg.nak()


class Batcher:
    """One durable pull consumer: takes what was delivered, up to the spec's batch size
    (`StandingPull`), and settles it together: one transaction for all, then one ack each. When
    the batch fails, each message is retried on its own, so only the culprit is nak'ed or
    dead-lettered; an infrastructure failure naks them all with a delay and holds the consumer
    back (Backoff), never dead-letters.

    Our own loop on nats-py's pull subscription, not a FastStream subscriber: FastStream handled
    each fetched message in a task of its own (context, middlewares, dependency resolution), and
    the batch had to be gathered again from those tasks (a few ms' wait); 3-5 % of each
    service's samples went to that path (docs/performance.md)."""

    def __init__(
        self, spec: ConsumerSpec, broker_ref: Callable[[], NatsBroker], apply: BatchHandler
    ) -> None:
        self.spec = spec
        self.broker_ref = broker_ref
        self.apply = apply
        self.backoff = Backoff()
        self.hold = 0.0  # seconds the next batch waits after an infrastructure failure

    async def run(self) -> None:
        """Take and settle until cancelled; a batch in progress is settled to its end first."""
        spec = self.spec
        pull: StandingPull | None = None
        task = asyncio.current_task()
        try:
            while True:
                # A stop's cancellation can be lost on Python 3.11: asyncio.wait_for (in
                # nats-py's next_msg) returns a message that came at the same moment instead of
                # raising it. The loop then ran on and the broker's stop waited for it forever
                # (seen in tests/integration/test_messaging.py). The task still counts it.
                if task is not None and task.cancelling():
                    raise asyncio.CancelledError
                try:
                    if pull is None:
                        # Deliveries come to the service's own inbox space, the only one it
                        # may subscribe to (opendeur/natsauth.py).
                        pull = await StandingPull(
                            jetstream(self.broker_ref())._nc,
                            EVENTS_STREAM,
                            spec.durable,
                            f"{natsauth.inbox_prefix(spec.service)}.",
                            spec.batch_size,
                        ).start()
                    msgs = await pull.next_batch()
                    if not msgs:
                        continue  # nothing arrived within a second
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # broker away or restarting: try again, bounded
                    log.warning("fetch_failed", consumer=spec.durable, error=type(exc).__name__)
                    await self.backoff.pause()
                    continue
                # A stop while a batch is being settled lets it finish (commit, acks) first.
                settling = asyncio.ensure_future(self.settle(msgs))
                try:
                    await asyncio.shield(settling)
                except asyncio.CancelledError:
                    await asyncio.wait([settling], timeout=SETTLE_ON_STOP_S)
                    raise
                except Exception as exc:  # an ack or a dead letter's publish failed: the
                    # messages not acked come again (the inbox applies each once); the
                    # consumer goes on. Before, this ended its loop for good (a helper's review).
                    log.warning("settle_failed", consumer=spec.durable, error=type(exc).__name__)
                    await self.backoff.pause()
                    continue
                if self.hold:  # outside the shield: a stop never waits for a back-off
                    hold, self.hold = self.hold, 0.0
                    await asyncio.sleep(hold)
        finally:
            if pull is not None:  # what came after the last batch goes back at once
                await asyncio.wait([asyncio.ensure_future(pull.close())], timeout=5)

    async def settle(self, raws: list[Any]) -> None:
        spec = self.spec
        js = jetstream(self.broker_ref())
        raws = sorted(raws, key=lambda r: r.metadata.sequence.stream)  # the stream's order
        good: list[tuple[Any, Event]] = []
        for raw in raws:
            try:
                good.append((raw, decode(raw.subject, raw.data)))
            except (ValidationError, LookupError, ValueError) as exc:
                await dead_letter(js, spec, raw, "invalid:" + type(exc).__name__.lower())
                await raw.term()
        if not good:
            return
        for raw, _ in good:
            if raw.metadata.num_delivered > 1:
                metrics.REDELIVERIES.labels(consumer=spec.durable).inc()
        started = time.perf_counter()
        try:
            async with _handler_slots():
                await self.apply([event for _, event in good])
        except Exception as exc:
            if transient(exc) or len(good) == 1:
                await self.failed(good, exc)
                return
            log.warning(
                "batch_failed_retrying_one_by_one",
                consumer=spec.durable,
                size=len(good),
                error=type(exc).__name__,
            )
            await self.one_by_one(good)
            return
        await self.succeeded(good, started)

    async def one_by_one(self, good: list[tuple[Any, Event]]) -> None:
        for i, (raw, event) in enumerate(good):
            started = time.perf_counter()
            try:
                async with _handler_slots():
                    await self.apply([event])
            except Exception as exc:
                if transient(exc):  # the infrastructure went away meanwhile: all of the rest wait
                    await self.failed(good[i:], exc)
                    return
                await self.failed([(raw, event)], exc)
                continue
            await self.succeeded([(raw, event)], started)

    async def succeeded(self, good: list[tuple[Any, Event]], started: float) -> None:
        spec = self.spec
        self.backoff.succeeded()
        crash_point(f"after-commit:{spec.durable}")
        for raw, _ in good:
            await raw.ack()
        metrics.CONSUMED.labels(consumer=spec.durable).inc(len(good))
        elapsed = time.perf_counter() - started
        for _ in good:
            metrics.HANDLER_SECONDS.labels(consumer=spec.durable).observe(elapsed / len(good))

    async def failed(self, good: list[tuple[Any, Event]], exc: Exception) -> None:
        spec = self.spec
        js = jetstream(self.broker_ref())
        is_transient = transient(exc)
        for raw, _ in good:
            delivered = raw.metadata.num_delivered
            metrics.HANDLER_ERRORS.labels(consumer=spec.durable).inc()
            delays = spec.nak_delays_s
            delay = delays[min(delivered - 1, len(delays) - 1)]
            if is_transient:
                # The database or broker is away: try again, however long it takes, soon after.
                await raw.nak(delay=min(delay, TRANSIENT_MAX_DELAY_S))
            elif delivered >= spec.max_deliver:
                await dead_letter(js, spec, raw, "max_deliveries")
                await raw.term()
            else:
                await raw.nak(delay=delay)
        if is_transient:
            # One line, no traceback: an outage fails every message the same way.
            log.warning(
                "handler_unavailable",
                consumer=spec.durable,
                error=type(exc).__name__,
                size=len(good),
            )
            # ... and hold this consumer's next fetch back (bounded CPU while it is away).
            self.hold = self.backoff.failed()
        else:
            log.error(
                "handler_failed",
                consumer=spec.durable,
                event_id=str(good[0][1].event_id),
                delivered=good[0][0].metadata.num_delivered,
                exc_info=exc,
            )


def subscribe(
    router: NatsRouter,
    broker_ref: Callable[[], NatsBroker],
    spec: ConsumerSpec,
    apply: BatchHandler,
) -> Batcher:
    """One durable pull consumer whose fetched messages are applied as one batch (`Batcher`),
    run by the broker (`Broker`) from its start; acks after the batch committed, nak with a
    delay on failure, dead-letter a message that cannot be decoded or keeps failing. `router`
    is where FastStream subscribers would go: kept so callers stay as they are."""
    batcher = Batcher(spec, broker_ref, apply)
    _unbound.append(batcher)
    return batcher


async def start_broker_when_possible(
    broker: NatsBroker, service: str, ready: asyncio.Event
) -> None:
    """Connect in the background so HTTP serves even while the broker is down."""
    delay = 0.2
    while True:
        try:
            await broker.connect()
            js = jetstream(broker)
            await ensure_streams(js)
            await ensure_consumers(js, service)
            await broker.start()
            ready.set()
            log.info("broker_started")
            return
        except (TimeoutError, OSError, nats.errors.Error) as exc:
            log.warning("broker_unavailable", error=type(exc).__name__, retry_in=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


async def admin_connection(settings: Settings) -> Any:
    """A NATS connection with the admin account (provisioning, replaying dead letters)."""
    import nats

    kwargs: dict[str, Any] = {}
    if settings.nats_auth == "derived":
        from opendeur.natsauth import ADMIN_USER, password

        kwargs = {"user": ADMIN_USER, "password": password(settings, ADMIN_USER)}
    elif settings.nats_user:
        secret = settings.nats_password.get_secret_value() if settings.nats_password else ""
        kwargs = {"user": settings.nats_user, "password": secret}
    return await nats.connect(settings.nats_url.split(","), connect_timeout=5, **kwargs)


async def provision_broker(settings: Settings, replicas: int = 1) -> None:
    """As the admin: create or update every stream and durable consumer of the contract."""
    nc = await admin_connection(settings)
    try:
        js = nc.jetstream()
        await ensure_streams(js, replicas=replicas, manage=True, settings=settings)
        await ensure_consumers(js)
    finally:
        await nc.close()
