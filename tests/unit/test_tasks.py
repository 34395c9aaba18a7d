"""The background work of a service (opendeur/tasks.py): a consumer, relay or timer that ends by
an exception makes /livez and /healthz answer 503, where before the service stayed green and
did that work no more; a stop's cancellation that comes together with a wake-up is never lost
(asyncio.wait_for on Python 3.11 returned the wake-up instead: the relay and notify's sender
then ran on after a stop, and the stop waited for them until the process was killed)."""

from __future__ import annotations

import asyncio
import json
import os
import time
import types
from pathlib import Path

import httpx
import pytest
from structlog.testing import capture_logs

from opendeur import outbox
from opendeur.runtime import Runtime
from opendeur.tasks import Watch, within, woken
from services.notify.delivery import Dispatcher
from tests.unit.test_web_kit import settings

CANARY = "0612345678 Jansen"


async def wait_until(check, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "not within the time"
        await asyncio.sleep(0.01)


async def test_a_task_that_ends_by_an_exception_is_kept_and_logged_without_its_message() -> None:
    watch = Watch()

    async def fails() -> None:
        raise RuntimeError(CANARY)

    async def returns() -> None:
        return None

    async def runs() -> None:
        await asyncio.sleep(60)

    with capture_logs() as logs:
        tasks = [watch.start(fails(), "fails"), watch.start(returns(), "returns")]
        running = watch.start(runs(), "runs")
        await asyncio.wait(tasks)
        running.cancel()
        await asyncio.wait([running])
        await asyncio.sleep(0)  # the done callbacks
    assert watch.ended == {"fails": "RuntimeError"}
    assert not watch.all_running
    assert [e["event"] for e in logs] == ["background_task_ended"]
    assert CANARY not in repr(logs)


async def test_a_background_task_that_ended_makes_the_service_unready_and_not_alive() -> None:
    rt = Runtime("routing", settings())
    app = rt.app(title="probe", description="a service whose timer fails")

    breaks = asyncio.Event()

    async def broken_timer() -> None:
        await breaks.wait()
        raise RuntimeError(CANARY)

    rt.background.append(("broken-timer", broken_timer))
    transport = httpx.ASGITransport(app=app)
    async with rt.lifespan(app), httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        alive = await c.get("/livez")
        breaks.set()
        await wait_until(lambda: not rt.working())
        dead = await c.get("/livez")
        health = await c.get("/healthz")
    assert alive.status_code == 200 and alive.json() == {"service": "routing", "working": True}
    assert dead.status_code == 503 and dead.json() == {"service": "routing", "working": False}
    assert health.status_code == 503 and health.json()["working"] is False


async def test_a_subscription_made_once_is_no_ended_task() -> None:
    rt = Runtime("routing", settings())
    app = rt.app(title="probe", description="a service that subscribes once")
    done = asyncio.Event()

    async def subscribe_once() -> None:
        done.set()

    rt.background.append(("subscribe-once", subscribe_once))
    transport = httpx.ASGITransport(app=app)
    async with rt.lifespan(app), httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        await asyncio.wait_for(done.wait(), 5)
        await asyncio.sleep(0.05)
        alive = await c.get("/livez")
    assert alive.status_code == 200 and rt.working()


async def test_woken_says_whether_it_was_woken() -> None:
    event = asyncio.Event()
    assert await woken(event, 0.01) is False
    asyncio.get_running_loop().call_later(0.01, event.set)
    assert await woken(event, 5) is True
    with pytest.raises(TimeoutError):
        await within(asyncio.sleep(5), 0.01)
    assert await within(asyncio.sleep(0, "done"), 1) == "done"


async def cancel_as_woken(task: asyncio.Task, wake: asyncio.Event, ticks: int) -> bool:
    """Wake the loop and cancel it `ticks` turns of the event loop later: did it stop?"""
    await asyncio.sleep(0.05)  # waiting on its wake-up
    wake.set()
    for _ in range(ticks):
        await asyncio.sleep(0)
    task.cancel()
    done, _ = await asyncio.wait([task], timeout=2.0)
    return bool(done)


async def nothing(*_args: object, **_kwargs: object) -> int:
    return 0


@pytest.mark.parametrize("ticks", range(5))
async def test_the_relay_stops_when_its_stop_comes_with_a_wake_up(ticks: int) -> None:
    relay = outbox.Relay(engine=None, js=None)  # type: ignore[arg-type]
    relay.table_due = False
    relay.table_at = time.monotonic() + 3600  # no periodic table round
    relay.flush_once = nothing  # type: ignore[method-assign]
    relay.drop_published = nothing  # type: ignore[method-assign]
    wake = asyncio.Event()
    task = asyncio.create_task(relay._loop(wake))
    assert await cancel_as_woken(task, wake, ticks), "the relay ran on after its stop"


@pytest.mark.parametrize("ticks", range(5))
async def test_notifys_sender_stops_when_its_stop_comes_with_a_wake_up(ticks: int) -> None:
    sender = Dispatcher.__new__(Dispatcher)
    sender.config = types.SimpleNamespace(concurrency=0, poll_seconds=1.0)
    sender.wake, sender.tasks, sender._email, sender.more_due = asyncio.Event(), set(), None, False
    task = asyncio.create_task(sender.run())
    assert await cancel_as_woken(task, sender.wake, ticks), "the sender ran on after its stop"


def test_a_served_service_whose_task_ended_stops_to_be_started_again(tmp_path: Path) -> None:
    """`opendeur serve` stops gracefully with exit status 70 once a background task ended, so
    `opendeur up` (with its back-off for a service failing at start), compose's restart policy
    and the kubelet start it again. Here intake's SMS confirmations cannot start: its master
    keys are malformed. A process that stayed up would send no confirmation until someone
    noticed."""
    import subprocess
    import sys

    from opendeur.embedded import free_port

    env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
        "OPENDEUR_SECRET_KEY": "unit-test-secret-" + "x" * 32,
        "OPENDEUR_DATABASE_URL": "postgresql://nobody:none@127.0.0.1:1/none",
        "OPENDEUR_NATS_URL": "nats://127.0.0.1:1",
        "OPENDEUR_SMS_URL": "http://127.0.0.1:1/sms",
        "OPENDEUR_INTAKE_MASTER_KEYS": "k9",
        "OPENDEUR_INTAKE_PORT": str(free_port()),
        "OPENDEUR_DATA_DIR": str(tmp_path / "data"),
        "OPENDEUR_LOG_FORMAT": "json",
    }
    done = subprocess.run(
        [sys.executable, "-m", "opendeur", "serve", "intake"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 70, (done.returncode, done.stderr[-2000:])
    ended = [
        line
        for line in done.stderr.splitlines()
        if line.startswith("{") and json.loads(line)["event"] == "background_task_ended"
    ]
    assert [json.loads(line)["task"] for line in ended] == ["sms-confirmations"]
    assert "Application shutdown complete." in done.stderr  # a graceful stop


async def test_a_broker_client_closed_for_good_ends_its_watch() -> None:
    """nats-py closes its client for good, instead of reconnecting, on a server error such as an
    authorization violation: the watch of the client then ends as a failed task (the process is
    started again); a client that is only reconnecting keeps it waiting."""
    from opendeur import messaging

    client = types.SimpleNamespace(is_closed=False)
    broker = types.SimpleNamespace(_connection=client)
    ready = asyncio.Event()
    ready.set()
    watch = Watch()
    task = watch.start(messaging.until_closed(broker, ready, every=0.01), "broker-client")  # type: ignore[arg-type]
    await asyncio.sleep(0.05)
    assert not task.done() and watch.all_running
    client.is_closed = True
    await asyncio.wait([task], timeout=2)
    await asyncio.sleep(0)
    assert watch.ended == {"broker-client": "BrokerClosed"}
