"""`opendeur deadletters replay` from the server's command line is in the audit trail like the
console's replay: staff.acted deadletter_replay by `cli.` and a keyed pseudonym of the OS account
(before, the CLI republished without a trace of who did it)."""

from __future__ import annotations

import getpass

import httpx
import nats

from contracts.streams import DEADLETTER_STREAM
from opendeur.keys import pseudonym
from opendeur.settings import Settings
from tests.integration.test_audit_deadletters import (
    SLOW,
    bearer,
    forge_dead_letter,
    replay_records,
    trail,
)
from tests.support import ADMIN, SECRET, System


async def test_a_replay_from_the_command_line_is_attributed_in_the_trail(system: System) -> None:
    nc = await nats.connect(system.nats.url)
    try:
        seq = await forge_dead_letter(nc.jetstream())
        missing = (await nc.jetstream().stream_info(DEADLETTER_STREAM)).state.last_seq + 1000
    finally:
        await nc.close()
    actor = "cli." + pseudonym(Settings(secret_key=SECRET), "cli", getpass.getuser())

    refused = system.opendeur("deadletters", "replay", str(missing))
    assert refused.returncode == 2 and "refused" in refused.stderr
    done = system.opendeur("deadletters", "replay", str(seq))
    assert done.returncode == 0, done.stderr
    assert f"in the audit trail by {actor}" in done.stdout
    assert getpass.getuser() not in done.stdout.replace(actor, "")

    async with httpx.AsyncClient(timeout=SLOW) as reader:
        events = await trail(reader, system)
        verified = await reader.get(
            system.url("audit") + "/api/v1/audit/verify", headers=bearer(ADMIN)
        )
    assert replay_records(events, missing) == []
    records = replay_records(events, seq)
    assert len(records) == 1, records
    asked = records[0]
    assert asked["staff_id"] == actor and asked["source"] == "audit"
    assert asked["deadletter_subject"] == "question.received.v1"
    assert verified.json()["ok"] is True
