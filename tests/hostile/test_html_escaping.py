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
from tests.support import ADMIN, LINK, SECRET, System, csrf, new_volunteer, question

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
        assert done.status_code == 200, done.text
        assert_inert(done.text, "phone console confirmation")


async def test_staff_pages_triage_and_audit_console(hostile: System) -> None:
    auth = {"Authorization": f"Bearer {ADMIN}"}
    async with httpx.AsyncClient(timeout=30, headers=auth) as c:
        # A question no group takes lands in triage; the hostile group is one of the choices.
        q = await ask(c, hostile, topic="verslaving", postcode="9999", story=HOSTILE)
        deadline = time.monotonic() + 30
        while True:
            triage = await c.get(hostile.url("routing") + "/triage")
            assert triage.status_code == 200
            assert_inert(triage.text, "triage page")
            if q["question_id"] in triage.text:
                break
            assert time.monotonic() < deadline, "the unmatched question never reached triage"
            await asyncio.sleep(0.3)
        assert "&lt;script&gt;" in triage.text, "the hostile group is not listed in triage"
        console = await c.get(hostile.url("audit") + "/")
        assert console.status_code == 200
        assert_inert(console.text, "audit console")
        for params in ({"q": XSS}, {"month": XSS}, {"type": IMG}):
            for path in ("/", "/login"):
                r = await c.get(hostile.url("audit") + path, params=params)
                assert r.status_code < 500
                assert_inert(r.text, f"audit {path} {params}")
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
    dialogs: list[str] = []
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        try:
            context = await browser.new_context(
                extra_http_headers={"Authorization": f"Bearer {ADMIN}"}
            )
            page = await context.new_page()
            page.on(
                "dialog", lambda d: (dialogs.append(d.message), asyncio.ensure_future(d.dismiss()))
            )
            for url in pages:
                response = await page.goto(url)
                assert response is not None and response.status == 200, url
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
