"""One system of its own for the hostile-input tests: fuzzing sends many questions and forged
events, which must not fill the shared system's groups or dead-letter stream for other tests."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator

import pytest

from contracts.streams import DEADLETTER_STREAM
from opendeur.embedded import Postgres
from opendeur.messaging import admin_connection
from opendeur.settings import Settings
from tests.support import GROUPS_CSV, System, start_system, stop_system

GENEROUS = GROUPS_CSV.replace("anna.rouw@example.org,3", "anna.rouw@example.org,1000")

XSS = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(2)>'
RTL = "\u202egnp.exe"
# A staff-entered group with a hostile name and contact name: CSV input is user input too.
HOSTILE_GROUP = (
    f'"Eenzaam {XSS} {IMG} {RTL}",eenzaamheid,Eindhoven,no,"{XSS} \'Eve\'",eve.xss@example.org,1000'
)
GROUPS = GENEROUS.rstrip("\n") + "\n" + HOSTILE_GROUP.replace('"><img', '""><img') + "\n"


@pytest.fixture(scope="package")
def hostile(tmp_path_factory: pytest.TempPathFactory, pg: Postgres) -> Iterator[System]:
    s = start_system(
        tmp_path_factory.mktemp("hostile"),
        pg,
        groups_csv=GROUPS,
        OPENDEUR_INTAKE_LOGIN_RATE="off",
        OPENDEUR_NOTIFY_DIGEST_HOUR="off",
    )
    yield s
    stop_system(s)


PAD = b"p"


@contextlib.asynccontextmanager
async def admin_js(system: System) -> AsyncIterator[tuple]:
    """(JetStream, connection) of the admin account: it may publish anything, as an attacker
    who got onto the broker could."""
    nc = await admin_connection(Settings(_env_file=None, nats_url=system.nats.url))
    try:
        yield nc.jetstream(), nc
    finally:
        await nc.close()


async def dead_letters_since(js, first: int) -> list[dict]:
    """Headers and body size of each dead letter after stream sequence `first`."""
    last = (await js.stream_info(DEADLETTER_STREAM)).state.last_seq
    out = []
    for seq in range(first + 1, last + 1):
        msg = await js.get_msg(DEADLETTER_STREAM, seq=seq)
        out.append({**(msg.headers or {}), "size": len(msg.data or b"")})
    return out
