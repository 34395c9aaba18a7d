"""The operational counters move on the real parts: a mail sent shows on notify's /metrics."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest

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
        # Online Angst (room for 100): on the suite's shared system earlier tests may hold the
        # places of the default question's group (Eindhoven, 3), and it would go to triage.
        r = await client.post(
            system.url("intake") + "/api/v1/questions", json=question(topic="angst")
        )
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


@pytest.mark.parametrize("service", ["intake", "routing", "notify", "audit"])
def test_every_services_metrics_follow_one_rule(system: System, service: str) -> None:
    """GET /metrics from loopback while no proxy is trusted (how Prometheus beside the process
    scrapes it); a wrong bearer token is refused whoever sends it. From elsewhere the token
    (OPENDEUR_METRICS_TOKEN) is needed: tests/security/test_door.py."""
    url = system.url(service) + "/metrics"
    r = httpx.get(url, headers={"X-Forwarded-For": "203.0.113.5"})
    assert r.status_code == 200 and "opendeur_http_requests_total" in r.text
    refused = httpx.get(url, headers={"Authorization": "Bearer geraden"})
    assert refused.status_code == 401 and refused.json()["error"] == "unauthorized"
    assert "opendeur_" not in refused.text
