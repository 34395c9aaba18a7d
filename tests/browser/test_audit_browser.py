"""The operators' console in real Chromium: an operator's sign-in at intake, the Dutch console at
360 and 1280 px with a staff member's attributed action and a dead-letter replay request, the
live trail, readable charts, axe, and no phone number or story anywhere."""

from __future__ import annotations

import re
import time
import uuid

import httpx
import nats
import pytest
from playwright.async_api import Browser, BrowserContext, Page

from contracts.events import StaffActed
from contracts.streams import deadletter_subject
from tests.browser.conftest import ARTIFACTS
from tests.browser.test_staff_browser import serious_axe_violations, sign_in_at
from tests.support import ADMIN, System, question, received_event

pytestmark = pytest.mark.browser

STAFF = "st-0a1b2c3d4e5f6a7b"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


async def signed_in(
    browser: Browser, system: System, width: int, url: str = "/"
) -> tuple[BrowserContext, Page, list[str]]:
    """An operator (role beheerder), signed in at intake's one sign-in, on the console."""
    ctx, page, errors = await sign_in_at(
        browser, system, system.url("audit") + url, "beheerder", width=width
    )
    await page.wait_for_selector("h1:has-text('Console')")
    return ctx, page, errors


async def publish(system: System, *messages: tuple[str, bytes, dict[str, str]]) -> list[int]:
    nc = await nats.connect(system.nats.url)
    try:
        js = nc.jetstream()
        return [(await js.publish(s, data, headers=h)).seq for s, data, h in messages]
    finally:
        await nc.close()


async def ask(system: System, **overrides: object) -> dict:
    async with httpx.AsyncClient(timeout=30) as client:
        r = await client.post(
            system.url("intake") + "/api/v1/questions", json=question(**overrides)
        )
    assert r.status_code == 202, r.text
    return r.json()


async def test_the_console_asks_for_a_personal_sign_in_not_a_token(
    system: System, browser: Browser
) -> None:
    ctx = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await ctx.new_page()
    await page.goto(system.url("audit") + "/login")  # an old bookmark
    assert page.url.startswith(system.url("intake") + "/staff/login")
    assert await page.locator("#token").count() == 0
    await page.fill("#name", "beheerder")
    await page.fill("#password", ADMIN)  # the old shared token is nobody's password
    await page.click("button[type=submit]")
    assert "klopt niet" in await page.inner_text("[role=alert]")
    await page.goto(system.url("audit") + "/")
    assert page.url.startswith(system.url("intake") + "/staff/login")
    await ctx.close()


async def test_a_new_line_appears_live_in_words(system: System, browser: Browser) -> None:
    ctx, page, errors = await signed_in(browser, system, 1280)
    await page.evaluate("window.__odNoReload = true")
    # Give the EventSource its connection before anything is published.
    await page.wait_for_selector("#events[data-live=open]", state="attached", timeout=10_000)
    started = time.monotonic()
    accepted = await ask(system, topic="angst")
    line = page.locator("#events li", has_text=accepted["reference"]).filter(
        has_text="Vraag binnengekomen"
    )
    await line.first.wait_for(timeout=30_000)
    print(f"\nlive line {(time.monotonic() - started) * 1000:.0f} ms after the POST")
    assert "fresh" in (await line.first.get_attribute("class") or "")
    text = await line.first.inner_text()
    assert "Angst" in text and accepted["question_id"] not in text
    assert await page.evaluate("window.__odNoReload === true"), "the page was reloaded"
    assert errors == [], errors
    await ctx.close()


@pytest.mark.parametrize("width", [1280, 360])
async def test_console_with_an_attributed_action_and_a_replay_request(
    system: System, browser: Browser, axe_source: str, width: int
) -> None:
    # A story and a phone number that must never show on the console (canaries).
    canary_story = f"kanarie-verhaal-{uuid.uuid4().hex[:8]}"
    canary_phone = "06 2" + str(1_000_000 + uuid.uuid4().int % 8_999_999)
    accepted = await ask(system, topic="rouw", story=canary_story, phone=canary_phone)
    qid = accepted["question_id"]
    acted = StaffActed(question_id=qid, staff_id=STAFF, action="assign", group_id="rouwgroep")
    dead = received_event()
    _, dead_seq = await publish(
        system,
        (acted.subject, acted.to_bytes(), {"Nats-Msg-Id": str(acted.event_id)}),
        (
            deadletter_subject("routing-question-received-v1"),
            dead.to_bytes(),
            {
                "Opendeur-Consumer": "routing-question-received-v1",
                "Opendeur-Reason": "max_deliveries",
                "Opendeur-Subject": dead.subject,
                "Nats-Msg-Id": str(uuid.uuid4()),
            },
        ),
    )
    await system.wait_audit(qid, ["question.received.v1", "staff.acted.v1"], timeout=90)

    ctx, page, errors = await signed_in(browser, system, width)
    # The attributed action, by pseudonymous id and OD reference, in the filter for staff.
    await page.check("input[name=show][value=staff]")
    await page.click(".filter button")
    await page.wait_for_url("**show=staff**")
    mine = page.locator("#events li", has_text=accepted["reference"])
    assert await mine.count() == 1
    text = await mine.first.inner_text()
    assert f"door medewerker {STAFF}" in text and "vraag aan een groep gegeven" in text

    # The operator asks for the dead letter to be offered again: in the trail with their id.
    row = page.locator("#deadletters tr", has_text=f"opendeur deadletters replay {dead_seq}")
    await row.locator("button[type=submit]").click()
    await page.wait_for_url(f"**replayed={dead_seq}**")
    notice = await page.inner_text("[role=status]")
    assert f"bericht {dead_seq}" in notice and "aangevraagd" in notice
    row = page.locator("#deadletters tr", has_text=f"opendeur deadletters replay {dead_seq}")
    asked = await row.locator(".asked").inner_text()
    operator = re.search(r"medewerker (st-[0-9a-f]{16})", asked).group(1)
    await page.goto(system.url("audit") + "/?show=staff")
    replay = page.locator("#events li", has_text=f"vastgelopen bericht {dead_seq}")
    assert f"door medewerker {operator}" in await replay.first.inner_text()

    # Usable at this width: no sideways scroll, chart text at least 14 px, nothing serious.
    scroll = await page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"page is {scroll}px wide at a {width}px viewport"
    smallest = await page.evaluate(
        """() => Math.min(...[...document.querySelectorAll('.charts svg')].flatMap(svg => {
            const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
            return [...svg.querySelectorAll('text')].map(
                t => parseFloat(t.getAttribute('font-size')) * scale);
        }))"""
    )
    assert smallest >= 14, f"chart text is {smallest:.1f}px at {width}px"
    assert await serious_axe_violations(page, axe_source) == []
    await page.screenshot(path=str(ARTIFACTS / f"audit-console-{width}.png"), full_page=True)

    # The whole console, in both languages and both views, holds no story and no phone number.
    for url in ("/", "/?show=staff", "/?lang=en", "/trail/lines", "/report"):
        await page.goto(system.url("audit") + url)
        html = await page.content()
        digits = re.sub(r"\D", "", html)
        assert canary_story not in html, url
        assert re.sub(r"\D", "", canary_phone) not in digits, url
        assert not UUID.search(await page.inner_text("body")), url
    assert errors == [], errors
    await ctx.close()


@pytest.mark.parametrize("width", [1280, 360])
async def test_charts_render_readably(system: System, browser: Browser, width: int) -> None:
    ctx, page, errors = await signed_in(browser, system, width)
    charts = page.locator(".charts figure svg")
    assert await charts.count() == 3
    for i in range(3):
        chart = charts.nth(i)
        assert await chart.is_visible()
        box = await chart.bounding_box()
        assert box is not None and box["width"] > 100 and box["height"] > 30, box
        assert box["x"] >= 0 and box["x"] + box["width"] <= width + 0.5, box
    titles = await page.eval_on_selector_all(
        ".charts svg title", "els => els.map(e => e.textContent)"
    )
    assert any("Tijd tot terugbellen" in t for t in titles), titles
    # Every text of a chart fits inside it (no title or label cut off at the edge).
    overflow = await page.evaluate(
        """() => [...document.querySelectorAll('.charts svg')].flatMap(svg => {
            const width = svg.viewBox.baseVal.width;
            return [...svg.querySelectorAll('text')].filter(t => {
                const box = t.getBBox();
                return box.x < -0.5 || box.x + box.width > width + 0.5;
            }).map(t => t.textContent);
        })"""
    )
    assert overflow == [], overflow
    assert errors == [], errors
    await ctx.close()
