"""The contact person's overview and intake's callback page, from the mail, in Chromium at 360 px."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page

from opendeur.keys import pseudonym
from opendeur.settings import Settings
from tests.browser.conftest import ARTIFACTS, serious_axe_violations
from tests.support import ADMIN, LINK, SECRET, System, question

pytestmark = pytest.mark.browser

WIDTH = 360
OVERVIEW = re.compile(r"(http://127\.0\.0\.1:\d+/contact/[A-Za-z0-9_.\-]+)")


async def narrow(browser: Browser, **kw: object) -> BrowserContext:
    return await browser.new_context(viewport={"width": WIDTH, "height": 740}, locale="nl-NL", **kw)


async def no_sideways_scroll(page: Page) -> None:
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= WIDTH, f"page is {width}px wide at a {WIDTH}px viewport"


async def fully_in_view_horizontally(page: Page, selector: str) -> None:
    for el in await page.query_selector_all(selector):
        assert await el.is_visible(), selector
        box = await el.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= WIDTH, (
            selector,
            box,
        )


async def mailed_question(system: System) -> tuple[dict, str, str]:
    async with httpx.AsyncClient(timeout=10) as client:
        r = await client.post(system.url("intake") + "/api/v1/questions", json=question())
        assert r.status_code == 202, r.text
    q = r.json()
    mail = await system.wait_mail(lambda m: q["reference"] in m.subject)
    callback, overview = LINK.search(mail.text), OVERVIEW.search(mail.text)
    assert callback and overview, mail.text
    return q, callback.group(1), overview.group(1)


async def test_contact_overview_and_callback_page_at_360px(
    system: System, browser: Browser, axe_source: str
) -> None:
    q, callback, overview = await mailed_question(system)
    ctx = await narrow(browser)
    page = await ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if "Security Policy" in m.text else None)

    await page.goto(overview)
    listed = page.locator("li.callback", has_text=q["reference"])
    assert await listed.count() == 1
    assert await listed.locator("a.ref").get_attribute("href") is not None
    # The overview says its links open only with a PIN, and what to use without one.
    assert "link in de mail" in await page.inner_text("#callbacks-pin")
    await no_sideways_scroll(page)
    await page.screenshot(path=str(ARTIFACTS / "contact-overview.png"), full_page=True)

    # The capacity form, by label and keyboard.
    field = page.get_by_label("Aantal (0 tot en met 20)")
    try:
        await field.fill("5")
        await field.press("Enter")
        await page.wait_for_selector(".saved")
        assert "opgeslagen" in await page.inner_text(".saved")
        assert await page.get_by_label("Aantal (0 tot en met 20)").input_value() == "5"
        await no_sideways_scroll(page)
        await fully_in_view_horizontally(page, "button")
        await page.screenshot(path=str(ARTIFACTS / "contact-overview-saved.png"), full_page=True)
        await page.locator("#start_0").fill("18:00")
        await page.get_by_role("button", name="Beltijden opslaan").click()
        await page.wait_for_selector(".error-summary")
        assert "maandag" in await page.inner_text(".error-summary")
        await no_sideways_scroll(page)
        await page.screenshot(path=str(ARTIFACTS / "contact-hours-error.png"), full_page=True)
    finally:
        async with httpx.AsyncClient(timeout=10) as client:
            csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', (await client.get(overview)).text)
            assert csrf
            r = await client.post(
                overview + "/capacity", data={"csrf": csrf.group(1), "max_open": "3"}
            )
            assert r.status_code == 303

    # The callback page, from the mail's link.
    await page.goto(callback)
    phone = page.locator("p.phone a[href^='tel:']")
    assert await phone.is_visible()
    assert (await phone.get_attribute("href") or "") == "tel:+31612345678"
    assert await page.locator("form.outcomes button").count() == 4
    # "We talked" erases the data: a first tap only opens the confirmation, no JS needed.
    assert not await page.locator("form.outcomes button[value='reached']").is_visible()
    await fully_in_view_horizontally(page, "form.outcomes > button, form.outcomes summary")
    await no_sideways_scroll(page)
    await page.screenshot(path=str(ARTIFACTS / "callback-page-360.png"), full_page=True)
    await page.click("form.outcomes summary:has-text('Gesproken')")
    assert "gewist" in await page.inner_text("details[open]")
    await fully_in_view_horizontally(page, "form.outcomes button[value='reached']")
    await page.screenshot(path=str(ARTIFACTS / "callback-confirm-360.png"), full_page=True)
    await page.click("form.outcomes button[value='reached']")
    await page.wait_for_load_state()
    assert errors == [], errors
    await ctx.close()

    # axe-core on the overview (CSP bypassed only to inject axe).
    ctx = await narrow(browser, bypass_csp=True)
    page = await ctx.new_page()
    await page.goto(overview)
    bad = await serious_axe_violations(page, axe_source)
    await ctx.close()
    assert bad == []


async def test_an_english_contact_reads_the_overview_in_english_and_switches_to_dutch(
    system: System, browser: Browser, axe_source: str
) -> None:
    bram = "bram.angst@example.org"
    cid = pseudonym(Settings(secret_key=SECRET), "contact", bram)
    contact = system.url("notify") + f"/api/v1/contacts/{cid}"
    staff = {"Authorization": f"Bearer {ADMIN}"}
    body = {"email": bram, "channel": "email", "language": "en"}
    async with httpx.AsyncClient(timeout=10) as client:
        assert (await client.put(contact, json=body, headers=staff)).status_code == 200
        try:
            r = await client.post(
                system.url("intake") + "/api/v1/questions", json=question(topic="angst")
            )
            assert r.status_code == 202, r.text
            q = r.json()
            mail = await system.wait_mail(lambda m: q["reference"] in m.subject)
        finally:
            body["language"] = "nl"
            assert (await client.put(contact, json=body, headers=staff)).status_code == 200
    overview = re.search(r"(http://127\.0\.0\.1:\d+/contact/\S+\?lang=en)", mail.text)
    assert overview, mail.text
    # A Dutch browser: the link's language wins, the switch offers the other one.
    ctx = await narrow(browser, bypass_csp=True)
    page = await ctx.new_page()
    await page.goto(overview.group(1))
    assert await page.get_attribute("html", "lang") == "en"
    assert await page.inner_text("h1") == "My overview"
    assert await page.locator("li.callback", has_text=q["reference"]).count() == 1
    field = page.get_by_label("Number (0 to 20)")
    assert await field.is_visible()
    await page.locator("#start_2").fill("19:00")
    await page.get_by_role("button", name="Save call hours").click()
    await page.wait_for_selector(".error-summary")
    assert "Wednesday" in await page.inner_text(".error-summary")
    await no_sideways_scroll(page)
    await page.screenshot(path=str(ARTIFACTS / "contact-overview-en.png"), full_page=True)
    bad = await serious_axe_violations(page, axe_source)
    assert bad == []
    await fully_in_view_horizontally(page, "#lang-switch")
    await page.click("#lang-switch")
    await page.wait_for_load_state()
    assert await page.get_attribute("html", "lang") == "nl"
    assert await page.inner_text("h1") == "Mijn overzicht"
    assert await page.get_by_label("Aantal (0 tot en met 20)").is_visible()
    await ctx.close()
    async with httpx.AsyncClient(timeout=10) as client:
        html = (await client.get(overview.group(1))).text
        assert re.search(r'<a href="([^"]+/c/[^"]+)" class="ref">' + q["reference"], html)
        # Closed with the mail's own link: the overview's opens only with a PIN (none set).
        link = LINK.search(mail.text)
        assert link, mail.text
        assert (await client.post(link.group(1), data={"outcome": "reached"})).status_code < 400
