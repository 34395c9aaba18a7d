"""kill -9 of notify after the mail reached the mail server but before it heard back: one mail only."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import psutil
import pytest

from opendeur.embedded import Postgres
from tests.support import MailSink, System, question, start_system, stop_system

ANNA = "anna.rouw@example.org"


class HoldingSink(MailSink):
    """Keeps the mail at once, then holds the '250 OK' for `hold` seconds for the recipients in
    `slow`: the sender cannot know whether its mail arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.slow: set[str] = set()
        self.hold = 20.0

    async def handle_DATA(self, server, session, envelope) -> str:
        reply = await super().handle_DATA(server, session, envelope)
        if self.slow & set(envelope.rcpt_tos):
            await asyncio.sleep(self.hold)
        return reply


@pytest.fixture(scope="module")
def crashy(tmp_path_factory: pytest.TempPathFactory, pg: Postgres) -> Iterator[System]:
    s = start_system(
        Path(tmp_path_factory.mktemp("crash")),
        pg,
        smtp=HoldingSink().start(),
        OPENDEUR_NOTIFY_STUCK_AFTER="20",
    )
    yield s
    stop_system(s)


def notify_processes(s: System) -> list[psutil.Process]:
    assert s.proc is not None
    found = []
    for child in psutil.Process(s.proc.pid).children(recursive=True):
        try:
            cmd = child.cmdline()
        except psutil.NoSuchProcess:
            continue
        if "serve" in cmd and "notify" in cmd:
            found.append(child)
    return found


async def ask(client: httpx.AsyncClient, s: System, **overrides) -> dict:
    r = await client.post(s.url("intake") + "/api/v1/questions", json=question(**overrides))
    assert r.status_code == 202, r.text
    return r.json()


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_killing_notify_mid_send_never_sends_a_second_mail(crashy: System) -> None:
    sink: HoldingSink = crashy.smtp  # type: ignore[assignment]
    sink.slow = {ANNA}
    [victim] = notify_processes(crashy)
    async with httpx.AsyncClient(timeout=10) as client:
        asked = time.monotonic()
        q = await ask(client, crashy, topic="rouw", postcode="5611")

        def mine(m) -> bool:
            return q["reference"] in m.subject and m.to == [ANNA]

        await crashy.wait_mail(mine, timeout=30)
        # The mail is at the mail server; notify still waits for its '250 OK'.
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait(10)
        sink.slow = set()

        deadline = time.monotonic() + 60
        while True:
            fresh = [p for p in notify_processes(crashy) if p.pid != victim.pid]
            if fresh:
                try:
                    r = await client.get(crashy.url("notify") + "/healthz")
                    if r.status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
            assert time.monotonic() < deadline, "the supervisor did not restart notify"
            await asyncio.sleep(0.2)

        # The restarted notify works: another contact's mail still goes out.
        other = await ask(client, crashy, topic="angst", postcode=None)
        await crashy.wait_mail(lambda m: other["reference"] in m.subject, timeout=30)

        await asyncio.sleep(max(0.0, 60 - (time.monotonic() - asked)))
        assert sum(mine(m) for m in crashy.smtp.mails) == 1, [m.subject for m in crashy.smtp.mails]

    # The notification ends as sent, or as failed with delivery_uncertain for the team to check.
    conn = await asyncpg.connect(crashy.pg.url(crashy.database))
    try:
        deadline = time.monotonic() + 120
        while True:
            rows = await conn.fetch(
                "select status, error_code from notify.notifications where question_id = $1",
                uuid.UUID(q["question_id"]),
            )
            assert len(rows) == 1, rows
            status, code = rows[0]["status"], rows[0]["error_code"]
            if status in ("sent", "uncertain"):
                break
            assert status == "sending", (status, code)
            assert time.monotonic() < deadline, "the notification is still 'sending'"
            await asyncio.sleep(2)
    finally:
        await conn.close()
    events = await crashy.wait_audit(
        q["question_id"],
        ["contact.notified.v1" if status == "sent" else "notification.failed.v1"],
        timeout=60,
    )
    if status == "uncertain":
        failed = [e for e in events if e["type"] == "notification.failed.v1"]
        assert [e["error_code"] for e in failed] == ["delivery_uncertain"]
        assert "contact.notified.v1" not in [e["type"] for e in events]
    assert sum(mine(m) for m in crashy.smtp.mails) == 1
