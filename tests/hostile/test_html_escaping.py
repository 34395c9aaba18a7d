"""Every page that shows a user's or staff member's string renders it as text: a story, call
times, postcode and phone full of <script>, quotes, `"><img onerror>` and RTL overrides; a group
and contact name (staff CSV input) likewise. The raw markup never appears in the HTML."""

from __future__ import annotations

import asyncio
import email
import email.policy
import time
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from opendeur import links
from opendeur.db import make_engine, sessionmaker
from opendeur.keys import pseudonym
from opendeur.settings import Settings
from tests.browser.conftest import CHROMIUM, LAUNCH_ARGS
from tests.hostile.conftest import IMG, RTL, XSS
from tests.support import (
    ADMIN,
    LINK,
    SECRET,
    System,
    csrf,
    new_volunteer,
    question,
    staff_client,
)

HOSTILE = f"Help {XSS} {IMG} 'enkel' \"dubbel\" {RTL} </textarea><b>vet</b> {{{{7*7}}}}"
EVE = "eve.xss@example.org"


def assert_inert(html: str, where: str) -> None:
    """No hostile markup survives as markup."""
    for raw in ("<script>alert", "<img src=x", "</textarea><b>", "<b>vet</b>"):
        assert raw not in html, f"{where}: {raw!r} is not escaped"
    assert "onerror=alert(2)>" not in html.replace("&gt;", ""), where


def assert_shown(html: str, where: str) -> None:
    """...and is shown as text (escaped), not silently dropped."""
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, f"{where}: the text is not shown"
    assert_inert(html, where)


async def ask(c: httpx.AsyncClient, s: System, **fields) -> dict:
    r = await c.post(s.url("intake") + "/api/v1/questions", json=question(**fields))
    assert r.status_code == 202, r.text
    return r.json()


@pytest.fixture(scope="module")
async def sessions(hostile: System) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(hostile.pg.url(hostile.database), pool_size=2, schema="intake")
    yield sessionmaker(engine)
    await engine.dispose()


async def test_public_form_echoes_hostile_values_as_text(hostile: System) -> None:
    async with httpx.AsyncClient(base_url=hostile.url("intake"), timeout=15) as c:
        r = await c.post(
            "/",
            data={
                "for_self": "yes",
                "story": HOSTILE,
                "phone": HOSTILE[:60],
                "postcode": XSS,
                "call_times": HOSTILE[:190],
                "share_with_contact": "yes",
            },
        )
        assert r.status_code == 422
        assert_shown(r.text, "web form with errors")
        for lang in (XSS, '"><script>x</script>'):
            page = await c.get("/", params={"lang": lang})
            assert page.status_code == 200
            assert_inert(page.text, "web form ?lang=")


async def test_callback_page_mail_and_contact_overview(hostile: System) -> None:
    async with httpx.AsyncClient(timeout=15) as c:
        q = await ask(
            c,
            hostile,
            topic="eenzaamheid",
            story=HOSTILE,
            call_times=f"'s avonds {XSS}",
            phone="06 12345678",
        )
        mail = await hostile.wait_mail(lambda m: q["reference"] in m.subject, timeout=30)
        assert mail.to == [EVE]
        html_part = email.message_from_bytes(mail.raw, policy=email.policy.default).get_body(
            preferencelist=("html",)
        )
        assert html_part is not None  # notify always sends an HTML part beside the text
        assert_inert(html_part.get_content(), "notification mail (html)")

        link = LINK.search(mail.text).group(1)
        page = await c.get(link)
        assert page.status_code == 200
        assert_shown(page.text, "callback page")
        assert "\u202e" in page.text or "&#8238;" in page.text  # shown, as text

        # The contact person's own overview and group page show the (hostile) group name.
        settings = Settings(_env_file=None, secret_key=SECRET)
        cid = pseudonym(settings, "contact", EVE)
        overview = await c.get(
            hostile.url("routing") + "/contact/" + links.sign(settings, "contact", {"c": cid})
        )
        assert overview.status_code == 200
        assert_shown(overview.text, "contact overview")


async def test_phone_console_confirmation_and_errors(
    hostile: System, sessions: async_sessionmaker[AsyncSession]
) -> None:
    headers = {"X-Forwarded-For": f"192.0.2.{uuid.uuid4().int % 250 + 1}"}
    async with httpx.AsyncClient(base_url=hostile.url("intake"), headers=headers) as c:
        await new_volunteer(c, sessions)
        token = csrf((await c.get("/phone")).text)
        base = {
            "csrf": token,
            "language": "nl",
            "consent_read": "yes",
            "share_with_contact": "yes",
            "for_self": "yes",
            "topic": "eenzaamheid",
            "story": HOSTILE,
            "call_times": f"na 18u {XSS}",
        }
        errors = await c.post("/phone", data={**base, "phone": XSS, "postcode": IMG})
        assert errors.status_code == 422
        assert_shown(errors.text, "phone console with errors")
        done = await c.post("/phone", data={**base, "phone": "0612345678", "postcode": "5611"})
        assert done.status_code == 303, done.text  # Post/Redirect/Get
        done = await c.get(done.headers["location"])
        assert done.status_code == 200, done.text
        assert_inert(done.text, "phone console confirmation")


async def test_staff_pages_triage_and_audit_console(hostile: System) -> None:
    """Staff pages opened the way staff open them: a team member's session for triage, an
    operator's for the console and the report page (each checked to be that page, not the
    sign-in it would fall back to)."""
    triage_url = hostile.url("routing") + "/triage"
    console_url = hostile.url("audit") + "/"
    async with httpx.AsyncClient(timeout=30) as c:
        # A question no group takes lands in triage; the hostile group is one of the choices.
        q = await ask(c, hostile, topic="verslaving", postcode="9999", story=HOSTILE)
    team = await staff_client(hostile, "teamlid")
    try:
        deadline = time.monotonic() + 30
        while True:
            triage = await team.get(triage_url)
            assert triage.status_code == 200 and str(triage.url) == triage_url, triage.url
            assert_inert(triage.text, "triage page")
            if q["reference"] in triage.text:
                break
            assert time.monotonic() < deadline, "the unmatched question never reached triage"
            await asyncio.sleep(0.3)
        assert "&lt;script&gt;" in triage.text, "the hostile group is not listed in triage"
        for params in ({"q": XSS}, {"next": XSS}, {"reason": IMG}):
            r = await team.get(triage_url, params=params)
            assert r.status_code < 500
            assert_inert(r.text, f"triage {params}")
    finally:
        await team.aclose()
    operator = await staff_client(hostile, "beheerder")
    try:
        console = await operator.get(console_url)
        assert console.status_code == 200 and str(console.url) == console_url, console.url
        assert_inert(console.text, "audit console")
        for params in ({"q": XSS}, {"month": XSS}, {"type": IMG}):
            for path in ("/", "/report", "/login"):
                r = await operator.get(hostile.url("audit") + path, params=params)
                assert r.status_code < 500
                assert_inert(r.text, f"audit {path} {params}")
        report_page = await operator.get(hostile.url("audit") + "/report", params={"month": XSS})
        assert report_page.status_code == 422 and str(report_page.url).startswith(
            hostile.url("audit") + "/report"
        )
        assert "alert(1)" not in report_page.text  # not even as text: nothing is reflected
    finally:
        await operator.aclose()
    auth = {"Authorization": f"Bearer {ADMIN}"}
    async with httpx.AsyncClient(timeout=30, headers=auth) as c:
        report = await c.get(
            hostile.url("audit") + "/api/v1/reports/monthly", params={"month": XSS}
        )
        assert report.status_code < 500 and "<script>alert" not in report.text


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Chromium at /usr/bin/chromium")
async def test_no_dialog_fires_in_chromium(hostile: System) -> None:
    """In a real browser: the hostile strings run nothing on the pages that show them."""
    from playwright.async_api import async_playwright

    async with httpx.AsyncClient(timeout=15) as c:
        q = await ask(c, hostile, topic="eenzaamheid", story=HOSTILE, call_times=XSS)
    mail = await hostile.wait_mail(lambda m: q["reference"] in m.subject, timeout=30)
    settings = Settings(_env_file=None, secret_key=SECRET)
    cid = pseudonym(settings, "contact", EVE)
    pages = [
        LINK.search(mail.text).group(1),
        hostile.url("routing") + "/contact/" + links.sign(settings, "contact", {"c": cid}),
        hostile.url("routing") + "/triage",
        hostile.url("audit") + "/",
    ]
    # The browser carries a staff sign-in (teamlid for triage, beheerder for the console) and
    # makes the hand-off to routing and audit itself.
    person = await staff_client(hostile, "teamlid", "beheerder")
    try:
        cookies = [
            {"name": k.name, "value": k.value or "", "domain": k.domain, "path": k.path}
            for k in person.cookies.jar
        ]
    finally:
        await person.aclose()
    assert cookies, "the staff sign-in set no cookie"
    dialogs: list[str] = []
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        try:
            context = await browser.new_context()
            await context.add_cookies(cookies)
            page = await context.new_page()
            page.on(
                "dialog", lambda d: (dialogs.append(d.message), asyncio.ensure_future(d.dismiss()))
            )
            for url in pages:
                response = await page.goto(url)
                assert response is not None and response.status == 200, url
                assert page.url == url, (url, page.url)  # that page, not a sign-in instead
                await page.wait_for_timeout(300)
            # The web form re-rendered with the hostile values (a real form post).
            await page.goto(hostile.url("intake") + "/")
            await page.fill("#story", HOSTILE)
            await page.fill("#phone", XSS[:60])
            await page.fill("#postcode", IMG[:16])
            await page.click("button[type=submit]")
            await page.wait_for_timeout(300)
            assert "<script>alert(1)</script>" in await page.input_value("#story")
        finally:
            await browser.close()
    assert dialogs == []
