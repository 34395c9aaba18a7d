"""The operational counters move on the real parts: a mail sent shows on notify's /metrics."""

from __future__ import annotations

import asyncio
import re

import httpx

from tests.support import System, question


def counter(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        m = re.match(rf"{name}\{{(.*)\}} ([0-9.e+]+)$", line)
        if m and all(f'{k}="{v}"' in m.group(1) for k, v in labels.items()):
            total += float(m.group(2))
    return total


async def test_notify_metrics_show_the_mail_sent(system: System) -> None:
    async with httpx.AsyncClient() as client:
        before = (await client.get(system.url("notify") + "/metrics")).text
        r = await client.post(system.url("intake") + "/api/v1/questions", json=question())
        assert r.status_code == 202, r.text
        ref = r.json()["reference"]
        await system.wait_mail(lambda m: ref in m.subject)
        # The counter moves when notify has recorded the send, just after the mail arrived.
        wanted = counter(before, "opendeur_notifications_sent_total") + 1
        for _ in range(50):
            after = (await client.get(system.url("notify") + "/metrics")).text
            sent = counter(
                after, "opendeur_notifications_sent_total", channel="email", purpose="new_question"
            )
            if sent >= wanted:
                break
            await asyncio.sleep(0.1)
    assert "opendeur_notifications_sent_total" in after
    assert sent >= wanted
    # The relay reports its backlog (drained once the events are out).
    assert "opendeur_outbox_backlog" in after
