"""Timings, the funder report and the operators' console, on the real system."""

from __future__ import annotations

import asyncio
import csv
import io
import re
from datetime import UTC, datetime

import httpx

from tests.support import ADMIN, LINK, System, add_staff, question, staff_sign_in

AUTH = {"Authorization": f"Bearer {ADMIN}"}
SLOW = 90  # seconds; other systems may share the machine


async def ask(client: httpx.AsyncClient, system: System, **overrides: object) -> dict:
    r = await client.post(system.url("intake") + "/api/v1/questions", json=question(**overrides))
    assert r.status_code == 202, r.text
    return r.json()


async def answered(client: httpx.AsyncClient, system: System) -> dict:
    """A question that went all the way to a callback; its id and reference. Online Angst (room
    for 100): on the suite's shared system earlier tests may hold Eindhoven's 3 rouw places."""
    accepted = await ask(client, system, topic="angst")
    mail = await system.wait_mail(lambda m: accepted["reference"] in m.subject, timeout=SLOW)
    link = LINK.search(mail.text).group(1)
    assert (await client.get(link)).status_code == 200
    assert (await client.post(link, data={"outcome": "reached"})).status_code == 200
    await system.wait_audit(
        accepted["question_id"], ["contact.notified.v1", "callback.done.v1"], timeout=SLOW
    )
    return accepted


async def unmatched(client: httpx.AsyncClient, system: System, topic: str) -> dict:
    """A question no group takes (no group for the topic): open, in the triage queue."""
    accepted = await ask(client, system, topic=topic)
    await system.wait_audit(accepted["question_id"], ["question.unmatched.v1"], timeout=SLOW)
    return accepted


def this_month() -> str:
    return datetime.now(UTC).strftime("%Y-%m")


async def test_timings_per_question_per_topic_and_open_questions(system: System) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        done = (await answered(client, system))["question_id"]
        waiting = (await unmatched(client, system, "mantelzorg"))["question_id"]
        url = system.url("audit") + "/api/v1/audit/timings"
        assert (await client.get(url, params={"month": this_month()})).status_code == 401
        r = await client.get(url, params={"month": this_month()}, headers=AUTH)
        assert r.status_code == 200, r.text
        body = r.json()

    q = next(q for q in body["questions"] if q["question_id"] == done)
    assert q["topic"] == "angst" and q["within_deadline"] is True
    assert 0 <= q["routed_seconds"] <= q["notified_seconds"] <= q["callback_seconds"] < 60

    angst = next(s for s in body["by_topic"] if s["topic"] == "angst")
    assert angst["month"] == this_month() and angst["answered"] >= 1
    assert 0 < angst["median_callback_seconds"] <= angst["p90_callback_seconds"] < 60
    assert angst["within_deadline_share"] == 1.0
    overall = next(s for s in body["by_topic"] if s["topic"] == "*")
    assert overall["questions"] >= 2 and overall["questions"] >= angst["questions"]

    still_open = {o["question_id"]: o for o in body["open"]}
    assert done not in still_open
    assert still_open[waiting]["late"] is False and still_open[waiting]["in_triage"] is True
    assert still_open[waiting]["age_seconds"] >= 0


async def test_timings_and_report_refuse_a_bad_month_with_a_readable_error(
    system: System,
) -> None:
    async with httpx.AsyncClient(timeout=30, headers=AUTH) as client:
        for path in ("/api/v1/audit/timings", "/api/v1/reports/monthly"):
            for month in ("2026-13", "november", "2026-1x", "0000-01"):
                r = await client.get(system.url("audit") + path, params={"month": month})
                assert r.status_code == 422, (path, month, r.text)
                assert r.json() == {
                    "error": "invalid_month",
                    "message": "month must look like 2026-11",
                    "field": "month",
                }
        r = await client.get(
            system.url("audit") + "/api/v1/reports/monthly",
            params={"month": this_month(), "format": "pdf"},
        )
        assert r.status_code == 422 and set(r.json()) == {"error", "message", "field"}


SMALL = {1, 2, 3, 4}


async def test_funder_report_never_shows_a_count_of_one_to_four(system: System) -> None:
    async with httpx.AsyncClient(timeout=30, headers=AUTH) as client:
        for _ in range(2):
            await unmatched(client, system, "eetstoornis")
        url = system.url("audit") + "/api/v1/reports/monthly"
        month = this_month()

        report = (await client.get(url, params={"month": month})).json()
        assert report["questions_by_topic"]["cells"]["eetstoornis"] == "<5"
        tables = [v for v in report.values() if isinstance(v, dict) and "cells" in v]
        assert len(tables) >= 6
        for table in tables:
            for value in [*table["cells"].values(), table["total"]]:
                assert value not in SMALL, report
        assert "median_callback_seconds" in report["response_times"]

        r = await client.get(url, params={"month": month, "format": "csv"})
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(r.text)))
        assert rows[0] == ["Maand", "Tabel", "Onderdeel", "Waarde"]  # Dutch, for the funder
        assert [month, "Vragen per onderwerp", "Eetstoornissen", "<5"] in rows
        assert all(row[3] not in {"1", "2", "3", "4"} for row in rows[1:])
        assert any(row[1] == "Reactietijden" for row in rows)
        named = r.headers["content-disposition"]
        assert re.fullmatch(rf'attachment; filename="[a-z0-9-]+-rapport-{month}\.csv"', named)

        r = await client.get(url, params={"month": month, "format": "html"})
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        page = r.text
        assert '<link rel="stylesheet" href="/static/print.css" media="print">' in page
        assert '<th scope="row">Eetstoornissen</th><td>&lt;5</td>' in page
        assert "Maandrapport" in page and "Vragen per onderwerp" in page
        assert not re.search(r"<td>\s*[1-4]\s*</td>", page)
        assert "<script>" not in page and "style=" not in page
        print_css = await client.get(system.url("audit") + "/static/print.css")
        assert print_css.status_code == 200 and "@page" in print_css.text


async def test_a_contact_can_say_the_person_wants_to_come_and_the_report_counts_only_that(
    system: System,
) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        accepted = await ask(client, system, topic="angst")
        mail = await system.wait_mail(lambda m: accepted["reference"] in m.subject, timeout=SLOW)
        link = LINK.search(mail.text).group(1)
        page = (await client.get(link)).text
        assert 'name="joins_group" value="yes"' in page
        assert "wil naar een bijeenkomst van de groep komen" in page
        # A box left ticked on "not reached" says nothing; on "we talked" it is counted.
        tried = await client.post(link, data={"outcome": "unreachable", "joins_group": "yes"})
        assert tried.status_code == 200
        done = await client.post(link, data={"outcome": "reached", "joins_group": "yes"})
        assert done.status_code == 200
        events = await system.wait_audit(
            accepted["question_id"], ["callback.done.v1"], timeout=SLOW
        )
        while len([e for e in events if e["type"] == "callback.done.v1"]) < 2:
            await asyncio.sleep(0.2)
            events = await system.audit_events(accepted["question_id"])
        dones = [e for e in events if e["type"] == "callback.done.v1"]
        assert [(e["outcome"], e.get("joins_group")) for e in dones] == [
            ("unreachable", None),
            ("reached", True),
        ]

        url = system.url("audit") + "/api/v1/reports/monthly"
        report = (await client.get(url, params={"month": this_month()}, headers=AUTH)).json()
        # Its own cell of the outcomes table, suppressed with the others (a second table that
        # split "reached" would let small cells be worked out by difference).
        assert "joining" not in report
        outcomes = report["outcomes"]["cells"]
        assert outcomes["reached_joins"] in ("<5", "•") or outcomes["reached_joins"] >= 5
        r = await client.get(url, params={"month": this_month(), "format": "csv"}, headers=AUTH)
        rows = list(csv.reader(io.StringIO(r.text)))
        assert any(row[1:3] == ["Uitkomsten", "bereikt, wil naar de groep komen"] for row in rows)


UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def visible_text(html: str) -> str:
    """What a person reads: the page without tags and attribute values."""
    return re.sub(r"<[^>]*>", " ", html)


async def test_console_needs_an_operators_sign_in_and_shows_queues_charts_and_events(
    system: System,
) -> None:
    base = system.url("audit")
    async with httpx.AsyncClient(timeout=30) as client:
        done = await answered(client, system)
        waiting = await unmatched(client, system, "autisme")

    async with httpx.AsyncClient(base_url=base, timeout=30) as browser:
        r = await browser.get("/")
        assert r.status_code == 303
        assert r.headers["location"].startswith(system.url("intake") + "/staff/handoff?to=audit")
        r = await browser.get("/login")  # an old bookmark: to the one sign-in at intake
        assert r.status_code == 303 and "/staff/login" in r.headers["location"]
        r = await browser.post("/login", data={"token": ADMIN})
        assert r.status_code == 405 and "set-cookie" not in r.headers

        name, once = add_staff(system, "beheerder")
        await staff_sign_in(browser, system.url("intake"), name, once)
        r = await browser.get("/", follow_redirects=True)
        assert r.url.path == "/"
        cookie = browser.cookies.get("od_staff_audit")
        assert cookie and ADMIN not in cookie

        r = await browser.get("/")
        assert r.status_code == 200, r.text
        page = r.text
        text = visible_text(page)
        assert '<html lang="nl">' in page
        assert page.count("<svg") == 3
        assert "Tijd tot terugbellen" in page and "Op tijd teruggebeld" in page
        assert "Vragen per onderwerp" in page
        # Questions by their OD reference, events in words, never an id of a question on screen.
        assert done["reference"] in text and waiting["reference"] in text
        assert "Terugbellen vastgelegd: bereikt" in text and "door contactpersoon" in text
        assert not UUID.search(text), UUID.search(text)
        assert "callback.done.v1" not in text and "+00:00" not in text
        triage = int(re.search(r'id="triage-count">(\d+)<', page).group(1))
        # Forged routing events for questions never received do not count (see test_audit_trail).
        assert triage >= 1 and triage == page.count('<span class="triage">')
        assert re.search(r'id="deadletter-count">(\d+)<', page)
        assert '<script src="/static/console.js" defer></script>' in page
        assert "<script>" not in page and "style=" not in page
        assert 0 < page.count('<li class="line') <= 50
        assert "content-security-policy" in r.headers

        english = await browser.get("/", params={"lang": "en"})
        assert english.status_code == 200 and '<html lang="en">' in english.text
        assert "Time to callback" in english.text and "Callback recorded: reached" in english.text

        js = await browser.get("/static/console.js")
        assert js.status_code == 200 and "EventSource" in js.text

        # The console's live feed: the stream answers to the operator's session, and the new
        # lines come worded by the server.
        seq = int(re.search(r'data-seq="(\d+)"', page).group(1))
        async with browser.stream("GET", f"/api/v1/audit/stream?after={seq - 1}") as stream:
            assert stream.status_code == 200
            seen = ""

            async def first_event() -> None:
                nonlocal seen
                async for line in stream.aiter_lines():
                    seen += line + "\n"
                    if line.startswith("data:"):
                        return

            await asyncio.wait_for(first_event(), 30)
        assert f"id: {seq}\n" in seen
        lines = await browser.get("/trail/lines", params={"after": seq - 1})
        # Lines from `after` on, newest first: the one asked for, and whatever the system
        # recorded since the page loaded (a sign-in elsewhere, a test's account), never older.
        shown = [int(s) for s in re.findall(r'<li class="line[^"]*" data-seq="(\d+)"', lines.text)]
        assert lines.status_code == 200 and shown and min(shown) == seq, shown
        assert shown == sorted(shown, reverse=True), shown
        assert not UUID.search(visible_text(lines.text))

        csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)
        r = await browser.post("/staff/signout", data={"csrf": "0" * 64})
        assert r.status_code == 403
        r = await browser.post("/staff/signout", data={"csrf": csrf})
        assert r.status_code == 200 and system.url("intake") + "/staff" in r.text
        r = await browser.get("/")
        assert r.status_code == 303 and "/staff/handoff" in r.headers["location"]
        r = await browser.get("/trail/lines")
        assert r.status_code == 303 and "/staff/handoff" in r.headers["location"]

    # The machine token reads the API; it opens no page for a person.
    r = httpx.get(base + "/", headers=AUTH)
    assert r.status_code == 303 and "/staff/handoff" in r.headers["location"]
    paths = httpx.get(base + "/openapi.json").json()["paths"]
    assert {"/api/v1/audit/timings", "/api/v1/audit/consent/{question_id}"} <= set(paths)
    assert "/login" not in paths and "/trail/lines" not in paths


# The timings as first computed, straight from the events (one lateral scan per question): the
# reference that question_times (migration 0004, kept by a trigger) must agree with.
REFERENCE = """
select q.question_id, coalesce(q.record->>'topic', 'unknown') as topic,
       t.routed_at, t.notified_at, t.callback_at, t.closed_at, t.last_routing
from events q
left join lateral (
    select min(occurred_at) filter (where type = 'question.routed.v1') as routed_at,
           min(occurred_at) filter (where type = 'contact.notified.v1') as notified_at,
           min(occurred_at) filter (where type = 'callback.done.v1') as callback_at,
           min(occurred_at) filter (where type in ('question.erased.v1', 'consent.withdrawn.v1',
                                                   'question.closed.v1')) as closed_at,
           (array_agg(type order by occurred_at desc, seq desc)
               filter (where type in ('question.routed.v1', 'question.unmatched.v1')))[1]
               as last_routing
    from events e where e.question_id = q.question_id
) t on true
where q.type = 'question.received.v1'
"""


async def test_question_times_kept_by_the_trigger_match_the_events_in_any_order(
    audit_engine,
) -> None:
    import random

    from sqlalchemy import text

    from opendeur.devtools import audit_perf as perf
    from services.audit import queries

    engine = audit_engine
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        await conn.execute(text("create temp table stage as select * from events limit 0"))
        fill = perf.fill_sql("v7").replace("insert into events", "insert into stage")
        await conn.execute(text(fill), {"q": 1500, "now": now})
        # Closed and re-routed questions too, then everything in shuffled batches: events of
        # one question arrive out of order and in different statements.
        await conn.execute(
            text(
                """
                insert into stage (seq, event_id, type, question_id, occurred_at, recorded_at,
                                   record, prev_hash, hash)
                select 100000 + row_number() over (), gen_random_uuid(), t.type, question_id,
                       occurred_at + interval '3 hours', now(), '{}'::jsonb, 'x', 'x'
                from stage, (values ('question.closed.v1'), ('question.routed.v1')) t(type)
                where stage.type = 'question.unmatched.v1' and seq % 3 = 0
                """
            )
        )
        seqs = list((await conn.execute(text("select seq from stage"))).scalars())
        random.Random(7).shuffle(seqs)
        for i in range(0, len(seqs), 250):
            await conn.execute(
                text("insert into events select * from stage where seq = any(:s)"),
                {"s": seqs[i : i + 250]},
            )
        kept = text(
            "select question_id, topic, routed_at, notified_at, callback_at, closed_at, "
            "last_routing from question_times order by question_id"
        )
        incremental = (await conn.execute(kept)).all()
        expected = (await conn.execute(text(REFERENCE + " order by q.question_id"))).all()
        assert incremental == expected and len(expected) == 1500
        assert (await conn.execute(text("select question_times_rebuild()"))).scalar_one()
        assert (await conn.execute(kept)).all() == incremental
        triage = await queries.triage_count(conn)
        reference_triage = (
            await conn.execute(
                text(
                    f"select count(*) from ({REFERENCE}) r where last_routing = "  # noqa: S608
                    "'question.unmatched.v1' and callback_at is null and closed_at is null"
                )
            )
        ).scalar_one()
        assert triage == reference_triage > 0
