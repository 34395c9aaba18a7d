"""A service whose NATS client closed for good stops working, to be started again. nats-py closes
its client instead of reconnecting when the server refuses it while connected: here the server's
users are reloaded with other passwords (a secret rotated), as an operator would. Before, the
service stayed up and green and published, consumed and timed nothing from then on."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

from opendeur.embedded import NatsServer
from opendeur.messaging import provision_broker
from opendeur.natsauth import authorization_conf
from opendeur.runtime import Runtime
from opendeur.settings import Settings
from tests.support import SECRET


async def test_a_service_whose_broker_client_closed_for_good_stops_working(
    tmp_path: Path,
) -> None:
    settings = Settings(
        _env_file=None,
        secret_key=SECRET,
        nats_auth="derived",
        database_url="postgresql://nobody:none@127.0.0.1:1/none",  # not needed here
    )
    server = NatsServer(tmp_path / "nats", extra_conf=authorization_conf(settings)).start()
    try:
        settings = settings.model_copy(update={"nats_url": server.url})
        await provision_broker(settings)
        rt = Runtime("routing", settings)
        app = rt.app(title="probe", description="a service whose broker refuses it")
        async with rt.lifespan(app):
            await asyncio.wait_for(rt.broker_ready.wait(), 30)
            await asyncio.sleep(0.5)
            assert rt.working()
            rotated = Settings(
                _env_file=None, secret_key="another-secret-" + "y" * 32, nats_auth="derived"
            )
            server.extra_conf = authorization_conf(rotated)
            server.write_conf()
            os.kill(server.proc.pid, signal.SIGHUP)  # nats-server reloads its configuration
            deadline = time.monotonic() + 20
            while rt.working():
                assert time.monotonic() < deadline, "still working with a closed client"
                await asyncio.sleep(0.1)
        assert rt.watch.ended == {"broker-client": "BrokerClosed"}
    finally:
        server.stop()
