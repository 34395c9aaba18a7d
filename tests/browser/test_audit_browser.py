"""The operators' console in real Chromium: an operator's sign-in at intake, the live trail, the
charts, 1280 and 360 px."""

from __future__ import annotations

import asyncio
import time

import httpx
import nats
import pytest
from playwright.async_api import Browser, BrowserContext, Page

from tests.browser.conftest import ARTIFACTS
from tests.browser.test_staff_browser import sign_in_at
from tests.support import ADMIN, System, question

pytestmark = pytest.mark.browser

LIVE_WITHIN_S = 2.0


async def signed_in(
    browser: Browser, system: System, width: int
) -> tuple[BrowserContext, Page, list[str]]:
    """An operator (role beheerder), signed in at intake's one sign-in, on the console."""
    ctx, page, errors = await sign_in_at(
        browser, system, system.url("audit") + "/", "beheerder", width=width
    )
    await page.wait_for_selector("h1:has-text('Console')")
    return ctx, page, errors


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


async def test_live_row_appears_within_two_seconds_of_publication(
    system: System, browser: Browser
) -> None:
    ctx, page, errors = await signed_in(browser, system, 1280)
    await page.evaluate("window.__odNoReload = true")
    # Give the EventSource its connection before anything is published.
    await page.wait_for_selector("#events[data-live=open]", state="attached", timeout=10_000)

    published: dict[str, float] = {}
    nc = await nats.connect(system.nats.url)

    async def seen(msg: object) -> None:
        published.setdefault(msg.data.decode(), time.monotonic())  # type: ignore[attr-defined]

    await nc.subscribe("question.received.v1", cb=seen)
    await nc.flush()
    try:
        async with httpx.AsyncClient(timeout=30) as client:
            r = await client.post(
                system.url("intake") + "/api/v1/questions", json=question(topic="angst")
            )
            assert r.status_code == 202, r.text
            qid = r.json()["question_id"]

        row = page.locator("#events tr", has_text=qid).filter(has_text="question.received.v1")
        await row.first.wait_for(timeout=30_000)
        shown_at = time.monotonic()
    finally:
        await nc.close()

    at = next((t for data, t in published.items() if qid in data), None)
    assert at is not None, "the question.received.v1 was never published on the broker"
    delay = shown_at - at
    assert delay <= LIVE_WITHIN_S, f"the row appeared {delay:.2f}s after publication"
    cells = await row.first.locator("td").all_inner_texts()
    assert "question.received.v1" in cells, cells
    assert await row.first.get_attribute("class") == "fresh"
    assert await page.evaluate("window.__odNoReload === true"), "the page was reloaded"
    assert errors == [], errors
    print(f"\nlive row {delay * 1000:.0f} ms after publication")
    await ctx.close()


@pytest.mark.parametrize("width", [1280, 360])
async def test_charts_render_and_screenshots(system: System, browser: Browser, width: int) -> None:
    ctx, page, errors = await signed_in(browser, system, width)
    charts = page.locator(".charts figure svg")
    assert await charts.count() == 3
    for i in range(3):
        chart = charts.nth(i)
        assert await chart.is_visible()
        box = await chart.bounding_box()
        assert box is not None and box["width"] > 100 and box["height"] > 30, box
        assert box["x"] >= 0 and box["x"] + box["width"] <= width + 0.5, box
    scroll = await page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"page is {scroll}px wide at a {width}px viewport"
    await page.screenshot(path=str(ARTIFACTS / f"audit-console-{width}.png"), full_page=True)
    await asyncio.sleep(0)  # let late console errors arrive
    assert errors == [], errors
    await ctx.close()
