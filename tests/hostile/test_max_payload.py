"""A message that just fits NATS's max_payload, forged onto a stream a consumer cannot decode.

On its own system, so a failure here cannot leave the shared system's routing unusable."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from contracts.streams import DEADLETTER_STREAM, EVENTS_STREAM
from opendeur.embedded import Postgres
from services.audit.deadletters import ReplayRefused, replay
from tests.hostile.conftest import PAD, admin_js, dead_letters_since
from tests.support import System, start_system, stop_system


@pytest.fixture(scope="module")
def alone(tmp_path_factory: pytest.TempPathFactory, pg: Postgres) -> Iterator[System]:
    s = start_system(tmp_path_factory.mktemp("maxpayload"), pg)
    yield s
    stop_system(s)


@pytest.fixture
async def js(alone: System):
    async with admin_js(alone) as pair:
        yield pair


async def test_a_message_at_max_payload_is_dead_lettered_without_dropping_the_connection(
    alone: System, js
) -> None:
    """The dead letter of a message that itself just fits max_payload would not fit with its
    headers; the server would refuse that publish and close routing's whole connection (routing
    then stopped answering /healthz). It is dead-lettered without its body instead
    (`Opendeur-Body-Omitted`); the original stays in OPENDEUR_EVENTS at its stream sequence."""
    js, nc = js
    start = (await js.stream_info(DEADLETTER_STREAM)).state.last_seq
    data = b'{"pad": "' + PAD * (nc.max_payload - 200) + b'"}'
    ack = await js.publish(
        "callback.done.v1", data, headers={"Nats-Msg-Id": f"forged-{uuid.uuid4()}"}, timeout=10
    )
    try:
        dead, log = False, ""
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not dead:
            got = await dead_letters_since(js, start)
            dead = any(
                d.get("Opendeur-Stream-Seq") == str(ack.seq)
                and d.get("Opendeur-Consumer") == "routing-callback-done-v1"
                for d in got
            )
            log = (alone.nats.data_dir / "nats.log").read_text(errors="replace")
            if "maximum payload exceeded" in log:
                break
            await asyncio.sleep(0.5)
        await asyncio.sleep(2)
        try:
            async with httpx.AsyncClient(timeout=5) as c:
                healthy = (await c.get(alone.url("routing") + "/healthz")).status_code == 200
        except httpx.HTTPError:
            healthy = False
        problems = []
        if "maximum payload exceeded" in log:
            problems.append(
                "the dead letter (body + headers) exceeded max_payload, so the server closed "
                "routing's connection"
            )
        if not dead:
            problems.append(f"stream seq {ack.seq} was not dead-lettered by routing")
        if not healthy:
            problems.append("routing stopped answering /healthz (it spins in nats-py's fetch)")
        assert not problems, "; ".join(problems)
        # A dead letter kept without its body cannot be replayed; the refusal says where it is.
        seq = (await js.stream_info(DEADLETTER_STREAM)).state.last_seq
        with pytest.raises(ReplayRefused, match=f"OPENDEUR_EVENTS at sequence {ack.seq}"):
            await replay(js, seq)
    finally:
        # Take the message away so it cannot be redelivered during the other tests.
        await js.delete_msg(EVENTS_STREAM, ack.seq)
