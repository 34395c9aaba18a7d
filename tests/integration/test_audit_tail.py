"""The live stream's filters on a running system: ?since= a time or a duration ago, ?type=, and
resuming with Last-Event-ID, as `opendeur audit tail` asks for them (services/audit/tailing.py)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from services.audit.tailing import parse_since, stream_params
from tests.support import ADMIN, System, question

AUTH = {"Authorization": f"Bearer {ADMIN}"}


async def read_stream(
    system: System, params: dict, until, headers: dict | None = None, timeout: float = 30
) -> list[dict]:
    """Events from the stream until `until(events)` says enough."""
    events: list[dict] = []
    url = system.url("audit") + "/api/v1/audit/stream"
    async with (
        httpx.AsyncClient(timeout=httpx.Timeout(10, read=None)) as client,
        client.stream("GET", url, params=params, headers={**AUTH, **(headers or {})}) as r,
    ):
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")

        async def collect() -> None:
            ident = None
            async for line in r.aiter_lines():
                if line.startswith("id: "):
                    ident = int(line[4:])
                elif line.startswith("data: "):
                    event = json.loads(line[6:])
                    assert event["seq"] == ident
                    events.append(event)
                    if until(events):
                        return

        await asyncio.wait_for(collect(), timeout)
    return events


async def ask(system: System, **overrides) -> dict:
    # The online group has room for 100: the shared system's local "rouw" group (room for 3) may
    # be full by now, and then a question goes to the team's queue, never to question.routed.v1.
    overrides.setdefault("topic", "angst")
    async with httpx.AsyncClient(timeout=10) as client:
        r = await client.post(
            system.url("intake") + "/api/v1/questions", json=question(**overrides)
        )
    assert r.status_code == 202, r.text
    return r.json()


def test_since_is_a_time_or_a_duration_ago() -> None:
    now = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
    assert parse_since("2h", now) == now - timedelta(hours=2)
    assert parse_since("30m", now) == now - timedelta(minutes=30)
    assert parse_since("1d", now) == now - timedelta(days=1)
    assert parse_since("1h30m", now) == now - timedelta(minutes=90)
    assert parse_since("2026-11-26T08:00:00Z") == datetime(2026, 11, 26, 8, tzinfo=UTC)
    assert parse_since("2026-11-26T09:00+01:00") == datetime(2026, 11, 26, 8, tzinfo=UTC)
    assert parse_since("2026-11-26") == datetime(2026, 11, 26, tzinfo=UTC)  # UTC without offset
    for bad in ("yesterday", "", "-2h", "2x", "12", "99999999999d", "1000000d"):  # too far: 422
        with pytest.raises(ValueError, match="ISO-8601"):
            parse_since(bad)
    assert stream_params(None) == {}
    assert stream_params(" 2h ", ["question.routed.v1"]) == {
        "since": "2h",
        "type": ["question.routed.v1"],
    }
    assert stream_params(None, None, after=17) == {"after": 17}
    with pytest.raises(ValueError):
        stream_params("last tuesday", None)


async def test_the_stream_filters_by_time_and_type_and_still_resumes(system: System) -> None:
    first = await ask(system)
    # Until its last event (the notification), or that may fall after the cut below.
    await system.wait_audit(
        first["question_id"],
        ["question.received.v1", "question.routed.v1", "contact.notified.v1"],
    )
    # Everything from the last hour, received questions only: the first question is in it.
    got = await read_stream(
        system,
        stream_params("1h", ["question.received.v1"]),
        lambda es: any(e.get("question_id") == first["question_id"] for e in es),
    )
    assert {e["type"] for e in got} == {"question.received.v1"}
    hour_ago = datetime.now(UTC) - timedelta(hours=1, minutes=1)
    # (an invalid event forged by another test on this shared system is kept without a time)
    assert all(
        datetime.fromisoformat(e["occurred_at"]) >= hour_ago for e in got if not e.get("invalid")
    )

    # Since an absolute time after the first question: only what happened later.
    cut = datetime.now(UTC)
    await asyncio.sleep(0.05)
    second = await ask(system)
    got = await read_stream(
        system,
        stream_params(cut.isoformat().replace("+00:00", "Z"), None),
        lambda es: (
            {"question.received.v1", "question.routed.v1"}
            <= {e["type"] for e in es if e.get("question_id") == second["question_id"]}
        ),
    )
    assert all(datetime.fromisoformat(e["occurred_at"]) >= cut for e in got if not e.get("invalid"))
    assert first["question_id"] not in {e.get("question_id") for e in got}
    assert [e["seq"] for e in got] == sorted(e["seq"] for e in got)

    # Two types at once, resumed with Last-Event-ID: only events after that sequence number.
    mine = [e for e in got if e.get("question_id") == second["question_id"]]
    resume = min(e["seq"] for e in mine) - 1  # just before the second question's first event
    two = ["question.received.v1", "question.routed.v1"]
    again = await read_stream(
        system,
        stream_params("1h", two),
        lambda es: (
            set(two) <= {e["type"] for e in es if e.get("question_id") == second["question_id"]}
        ),
        headers={"Last-Event-ID": str(resume)},
    )
    assert all(e["seq"] > resume and e["type"] in two for e in again)
    assert first["question_id"] not in {e.get("question_id") for e in again}

    # ?after= does the same for a client that cannot set headers.
    after = await read_stream(
        system, {"after": resume, "type": "question.routed.v1"}, lambda es: len(es) >= 1
    )
    assert after[0]["seq"] > resume and after[0]["type"] == "question.routed.v1"


async def test_a_since_that_is_not_a_time_is_refused_with_the_error_shape(system: System) -> None:
    url = system.url("audit") + "/api/v1/audit/stream"
    async with httpx.AsyncClient(timeout=10) as client:
        r = await client.get(url, params={"since": "last tuesday"}, headers=AUTH)
        assert r.status_code == 422
        body = r.json()
        assert "since" in json.dumps(body) and "ISO-8601" in json.dumps(body)
        assert (await client.get(url, params={"since": "2h"})).status_code == 401
