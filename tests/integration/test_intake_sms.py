"""The help-seeker's own SMS with her reference and withdraw link, on a whole system whose
OPENDEUR_SMS_URL points at a real HTTP server standing in for the gateway: sent once when she
ticks it, never when she does not, never after she withdrew, later (once) when the gateway was
away; the answer to her question never waits for it, and her number is in no log, event or
error."""

from __future__ import annotations

import asyncio
import html
import random
import re
import time
import uuid
from collections.abc import Iterator

import asyncpg
import httpx
import pytest

from opendeur.embedded import Postgres
from tests.integration.test_walking_skeleton import all_stream_payloads
from tests.support import ADMIN, Gateway, System, question, start_system, stop_system

NETWORK = "Zelfhulp Netwerk Testregio"


@pytest.fixture(scope="module")
def gateway() -> Iterator[Gateway]:
    with Gateway() as g:
        yield g


@pytest.fixture(scope="module")
def sms_system(tmp_path_factory: pytest.TempPathFactory, pg: Postgres, gateway: Gateway):
    s = start_system(
        tmp_path_factory.mktemp("intake-sms"),
        pg,
        OPENDEUR_SMS_URL=gateway.url,
        OPENDEUR_SMS_AUTH_HEADER="Authorization: Bearer sms-intake",
        OPENDEUR_SMS_BODY_TEMPLATE='{"to": "{to}", "message": "{text}"}',
        OPENDEUR_SMS_RETRY_BASE="0.2",
        OPENDEUR_NETWORK_NAME=NETWORK,
    )
    yield s
    stop_system(s)


@pytest.fixture(autouse=True)
def gateway_up(gateway: Gateway) -> Iterator[None]:
    yield
    gateway.down, gateway.delay = False, 0.0


def mobile() -> tuple[str, str]:
    """A fresh mobile number as a person types it, and as E.164."""
    digits = f"6{random.randint(1, 5)}{random.randint(1_000_000, 9_999_999)}"
    return f"0{digits[:1]}-{digits[1:5]} {digits[5:]}", f"+31{digits}"


def to(gateway: Gateway, number: str) -> list[tuple[dict[str, str], dict, int]]:
    return [x for x in list(gateway.exchanges) if x[1]["to"] == number]


async def wait_for(predicate, timeout: float = 30, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


async def ask(s: System, phone: str, **overrides: object) -> dict:
    async with httpx.AsyncClient() as c:
        r = await c.post(
            s.url("intake") + "/api/v1/questions",
            json=question(phone=phone, topic="angst", postcode=None, **overrides),
        )
    assert r.status_code == 202, r.text
    return r.json()


async def follow_withdraw_link(link: str) -> None:
    """As a person does: open the link, press the button on the page it shows."""
    async with httpx.AsyncClient() as c:
        page = await c.get(link)
        assert page.status_code == 200
        action = html.unescape(re.search(r'<form[^>]* action="([^"]+)"', page.text).group(1))
        done = await c.post(httpx.URL(link).join(action))
    assert done.status_code == 303 and done.headers["location"].startswith("/ingetrokken")


async def test_ticked_one_sms_with_reference_and_a_withdraw_link_that_works(
    sms_system: System, gateway: Gateway
) -> None:
    typed, number = mobile()
    q = await ask(sms_system, typed, sms_confirmation=True)
    await wait_for(lambda: to(gateway, number), what="the SMS")
    await asyncio.sleep(1.5)  # a second one would have come by now
    ((headers, body, status),) = to(gateway, number)
    assert status == 200 and headers["Authorization"] == "Bearer sms-intake"
    # One key per confirmation, but not the question's id (the gateway's logs would join it to
    # the audit trail).
    key = headers["Idempotency-Key"]
    assert key.startswith("oc-") and q["question_id"] not in key
    text = body["message"]
    assert text.startswith(NETWORK + ":") and q["reference"] in text
    assert "uiterlijk " in text and len(text) <= 3 * 153
    link = re.search(r"(http://127\.0\.0\.1:\d+/intrekken/\S+)$", text).group(1)
    assert link.startswith(sms_system.url("intake") + f"/intrekken/{q['question_id']}?token=")

    await follow_withdraw_link(link)
    events = await sms_system.wait_audit(
        q["question_id"], ["consent.withdrawn.v1", "question.erased.v1"]
    )
    assert {"consent.withdrawn.v1", "question.erased.v1"} <= {e["type"] for e in events}


async def test_the_english_form_offers_it_with_a_warning_and_sends_it_in_english(
    sms_system: System, gateway: Gateway
) -> None:
    typed, number = mobile()
    async with httpx.AsyncClient(base_url=sms_system.url("intake")) as c:
        page = await c.get("/?lang=en")
        assert 'name="sms_confirmation"' in page.text
        box = re.search(r'<input type="checkbox" name="sms_confirmation"[^>]*>', page.text)
        assert box and "checked" not in box.group(0)  # unticked until she ticks it
        assert "anyone who can see your phone can read this text message too" in page.text
        submission = re.search(r'name="submission" value="([^"]+)"', page.text).group(1)
        form = {
            "submission": submission,
            "for_self": "yes",
            "topic": "angst",
            "phone": typed,
            "share_with_contact": "yes",
            "sms_confirmation": "yes",
        }
        r = await c.post("/?lang=en", data=form)
        assert r.status_code == 303, r.text[:500]
        thanks = await c.get(r.headers["location"])
    reference = re.search(r"OD-[A-Z0-9]{4}-[A-Z0-9]{4}", thanks.text).group(0)
    await wait_for(lambda: to(gateway, number), what="the SMS")
    ((_headers, body, _status),) = to(gateway, number)
    assert reference in body["message"] and "We will call you by " in body["message"]
    assert body["message"].endswith("&lang=en")
    await follow_withdraw_link(re.search(r"(http://\S+)$", body["message"]).group(1))


@pytest.mark.parametrize(
    "phone",
    ["040 1234567", "066 1234567", "+79161234567", "+2348031234567", "+4915112345678"],
)
async def test_only_a_dutch_mobile_takes_an_sms(sms_system: System, phone: str) -> None:
    # Landlines and pagers cannot take one; foreign numbers can cost the network dearly
    # (an attack had texts sent to Russian, Nigerian and Moldovan numbers).
    async with httpx.AsyncClient() as c:
        r = await c.post(
            sms_system.url("intake") + "/api/v1/questions",
            json=question(phone=phone, sms_confirmation=True),
        )
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "sms_needs_mobile" and r.json()["field"] == "sms_confirmation"


async def test_one_number_gets_at_most_one_sms_a_day(sms_system: System, gateway: Gateway) -> None:
    # An attack sent 14 texts to one number within a second through the public API.
    typed, number = mobile()
    asked = [await ask(sms_system, typed, sms_confirmation=True) for _ in range(5)]
    assert len({q["question_id"] for q in asked}) == 5  # every question is still taken
    await wait_for(lambda: to(gateway, number), what="the first SMS")
    await asyncio.sleep(2)  # the others would have come by now
    ((_headers, body, _status),) = to(gateway, number)
    assert asked[0]["reference"] in body["message"]


async def test_another_site_cannot_post_the_form(sms_system: System, gateway: Gateway) -> None:
    # A page elsewhere submitting our form in its visitor's browser: no question, no SMS.
    typed, number = mobile()
    form = {
        "for_self": "yes",
        "consent_read": "yes",
        "share_with_contact": "yes",
        "phone": typed,
        "sms_confirmation": "yes",
        "submission": "forged-submission-id",
    }
    async with httpx.AsyncClient(base_url=sms_system.url("intake")) as c:
        r = await c.post("/?lang=nl", data=form, headers={"Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 403 and "alleen op onze eigen website" in r.text
    await asyncio.sleep(2)
    assert to(gateway, number) == []


async def test_not_ticked_no_sms(sms_system: System, gateway: Gateway) -> None:
    typed, number = mobile()
    other_typed, other = mobile()
    await ask(sms_system, typed)
    await ask(sms_system, other_typed, sms_confirmation=True)
    await wait_for(lambda: to(gateway, other), what="the ticked one's SMS")
    await asyncio.sleep(1.5)
    assert to(gateway, number) == []


async def test_withdrawn_before_the_send_nothing_is_sent(
    sms_system: System, gateway: Gateway
) -> None:
    gateway.down = True
    typed, number = mobile()
    q = await ask(sms_system, typed, sms_confirmation=True)
    await wait_for(lambda: to(gateway, number), what="a first try")  # it failed: not sent
    async with httpx.AsyncClient() as c:
        r = await c.delete(
            sms_system.url("intake") + f"/api/v1/questions/{q['question_id']}",
            headers={"X-Withdraw-Token": q["withdraw_token"]},
        )
    assert r.status_code == 204
    await asyncio.sleep(0.5)  # a try claimed before the withdrawal has reached the gateway
    tried = len(to(gateway, number))
    gateway.down = False
    other_typed, other = mobile()
    await ask(sms_system, other_typed, sms_confirmation=True)
    await wait_for(lambda: to(gateway, other), what="the next question's SMS")
    await asyncio.sleep(2)  # well past the retries' back-off (base 0.2 s)
    assert len(to(gateway, number)) == tried
    assert all(status == 503 for _h, _b, status in to(gateway, number))


async def test_gateway_away_for_a_while_sent_later_once_and_the_answer_never_waits(
    sms_system: System, gateway: Gateway
) -> None:
    gateway.down = True
    typed, number = mobile()
    q = await ask(sms_system, typed, sms_confirmation=True)
    await wait_for(lambda: len(to(gateway, number)) >= 3, what="three failed tries")
    gateway.down = False
    await wait_for(lambda: any(x[2] == 200 for x in to(gateway, number)), what="the SMS")
    await asyncio.sleep(1.5)
    tries = to(gateway, number)
    assert [status for _h, _b, status in tries].count(200) == 1 and tries[-1][2] == 200
    assert len({h["Idempotency-Key"] for h, _b, _s in tries}) == 1  # one id on every try
    assert q["reference"] in tries[-1][1]["message"]

    gateway.delay = 5.0  # a gateway that takes its time: the 202 does not wait for it
    typed, number = mobile()
    started = time.monotonic()
    await ask(sms_system, typed, sms_confirmation=True)
    assert time.monotonic() - started < 2.5
    await wait_for(lambda: to(gateway, number), timeout=30, what="the slow gateway's SMS")


async def test_a_confirmation_that_cannot_be_opened_fails_alone_and_the_next_is_sent(
    sms_system: System, gateway: Gateway
) -> None:
    """One confirmation's sealed text damaged on disk while the gateway is away: it fails on
    its own (unreadable), and the one after it is sent once the gateway is back. Before, the
    error rolled back every claim it was part of, and no confirmation was sent any more."""
    gateway.down = True
    damaged_typed, damaged = mobile()
    fine_typed, fine = mobile()
    first = await ask(sms_system, damaged_typed, sms_confirmation=True)
    await ask(sms_system, fine_typed, sms_confirmation=True)
    await wait_for(lambda: to(gateway, damaged) and to(gateway, fine), what="a failed try each")
    conn = await asyncpg.connect(sms_system.pg.url(sms_system.database))
    try:
        await conn.execute(
            "update intake.sms_confirmations set text = '\\x00'::bytea where question_id = $1",
            uuid.UUID(first["question_id"]),
        )
        gateway.down = False
        await wait_for(
            lambda: any(status == 200 for _h, _b, status in to(gateway, fine)), what="the SMS"
        )
        row = await conn.fetchrow(
            "select status, last_error from intake.sms_confirmations where question_id = $1",
            uuid.UUID(first["question_id"]),
        )
    finally:
        await conn.close()
    assert (row["status"], row["last_error"]) == ("failed", "unreadable")
    assert not any(status == 200 for _h, _b, status in to(gateway, damaged))


async def test_canary_the_number_is_in_no_log_event_or_error(
    sms_system: System, gateway: Gateway
) -> None:
    gateway.down = True  # the failure path logs too
    typed, number = mobile()
    digits = number.removeprefix("+31")
    q = await ask(sms_system, typed, sms_confirmation=True)
    await wait_for(lambda: len(to(gateway, number)) >= 2, what="failed tries")
    gateway.down = False
    await wait_for(lambda: any(x[2] == 200 for x in to(gateway, number)), what="the SMS")
    await asyncio.sleep(1)
    logs = sms_system.logs()
    assert q["question_id"] in logs and "sms_confirmation" in logs
    assert "sms_http_503" in logs  # the failed tries were logged, by their code
    assert digits not in logs and q["withdraw_token"] not in logs
    streams = await all_stream_payloads(sms_system.nats.url)
    assert digits.encode() not in streams and q["withdraw_token"].encode() not in streams
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {ADMIN}"}) as c:
        events = await c.get(
            sms_system.url("audit") + "/api/v1/audit/events",
            params={"question_id": q["question_id"]},
        )
    assert events.status_code == 200 and digits not in events.text
    dump = sms_system.pg.dump(sms_system.database)  # the text is sealed: no token in clear
    assert digits not in dump and q["withdraw_token"] not in dump


async def test_without_a_gateway_no_box_and_the_api_refuses_it(system: System) -> None:
    async with httpx.AsyncClient(base_url=system.url("intake")) as c:
        page = await c.get("/")
        assert 'name="sms_confirmation"' not in page.text
        r = await c.post("/api/v1/questions", json=question(sms_confirmation=True))
    assert r.status_code == 422
    body = r.json()
    assert (body["error"], body["field"]) == ("sms_unavailable", "sms_confirmation")
    assert "sms" in body["message"].lower()
