"""The contact person's overview, her group's page and intake's callback page, from the mail, in
Chromium at 360 px and on a desktop."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page

from opendeur import links
from opendeur.keys import pseudonym
from opendeur.settings import Settings
from tests.browser.conftest import ARTIFACTS, serious_axe_violations
from tests.support import (
    ADMIN,
    ANNA_SHARED_PLACES,
    LINK,
    SECRET,
    System,
    question,
    staff_client,
)

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
                overview + "/capacity", data={"csrf": csrf.group(1), "max_open": ANNA_SHARED_PLACES}
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


# The contact person's journeys of issue 15 (not reached three times, wrong group, leave and back),
# at 360 px and on a desktop, axe-core clean, screenshots under tests/artifacts/.
DESKTOP = {"width": 1280, "height": 900}


async def axe(page: Page, axe_source: str) -> list[str]:
    """axe-core's serious and critical findings, run through DevTools so the page keeps its CSP."""
    await page.evaluate(axe_source + "\n;0")
    result = await page.evaluate(
        "axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'wcag21aa', 'best-practice']})"
    )
    return [
        f"{v['id']}: {v['help']}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


async def reload_until(page: Page, url: str, check, what: str, timeout: float = 30) -> None:
    """Open `url` again until it shows what the person should see once an event went round."""
    deadline = time.monotonic() + timeout
    while True:
        await page.goto(url)
        if await check():
            return
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.3)


def import_groups(system: System, tmp_path: Path, *rows: str) -> None:
    csv = tmp_path / "groups.csv"
    csv.write_text(
        "group_name,topics,municipalities,online,contact_name,contact_email,max_open\n"
        + "".join(f"{r}\n" for r in rows)
    )
    done = system.opendeur("groups", "import", str(csv))
    assert done.returncode == 0, done.stderr


def overview_of(system: System, email_address: str) -> str:
    cid = pseudonym(Settings(secret_key=SECRET), "contact", email_address)
    return (
        system.url("routing")
        + "/contact/"
        + links.sign(Settings(secret_key=SECRET), "contact", {"c": cid})
    )


async def ask(system: System, **overrides: object) -> dict:
    async with httpx.AsyncClient(timeout=10) as client:
        r = await client.post(
            system.url("intake") + "/api/v1/questions", json=question(**overrides)
        )
    assert r.status_code == 202, r.text
    return r.json()


async def test_a_contact_who_does_not_reach_someone_three_times(
    system: System, browser: Browser, axe_source: str, tmp_path: Path
) -> None:
    dirk = "dirk.drie@example.org"
    import_groups(system, tmp_path, f"Driemaalgroep Test,ms,,yes,Dirk Drie,{dirk},3")
    q = await ask(system, topic="ms", postcode=None)
    mail = await system.wait_mail(lambda m: q["reference"] in m.subject)
    assert mail.to == [dirk]
    callback, overview = LINK.search(mail.text).group(1), overview_of(system, dirk)
    ctx = await narrow(browser)
    page = await ctx.new_page()
    entry = page.locator("li.callback", has_text=q["reference"])
    for n in (1, 2):
        await page.goto(callback)
        await page.click("form.outcomes button[value='unreachable']")
        await page.wait_for_load_state()

        async def shows_try(n: int = n) -> bool:
            return await entry.count() == 1 and (
                f"Niet bereikt: {n} van de 3 keer." in await entry.inner_text()
            )

        await reload_until(page, overview, shows_try, f"try {n} is not on her overview")
    text = await entry.inner_text()
    assert "Probeer het nog eens" in text and "netwerkteam" in text
    await no_sideways_scroll(page)
    assert await axe(page, axe_source) == []
    await entry.scroll_into_view_if_needed()
    await page.screenshot(path=str(ARTIFACTS / "contact-not-reached-twice-360.png"), full_page=True)
    wide = await browser.new_context(viewport=DESKTOP, locale="nl-NL")
    desk = await wide.new_page()
    await desk.goto(overview)
    assert "Niet bereikt: 2 van de 3 keer." in await desk.inner_text("li.callback")
    await desk.screenshot(
        path=str(ARTIFACTS / "contact-not-reached-twice-desktop.png"), full_page=True
    )
    await wide.close()
    # The third time the network team takes it over: it leaves her list.
    await page.goto(callback)
    await page.click("form.outcomes button[value='unreachable']")
    await page.wait_for_load_state()

    async def handed_over() -> bool:
        return await entry.count() == 0

    await reload_until(page, overview, handed_over, "the third try left it on her overview")
    assert "Er wacht nu niemand op je telefoontje." in await page.inner_text("main")
    await page.screenshot(path=str(ARTIFACTS / "contact-not-reached-third-360.png"), full_page=True)
    await ctx.close()


async def test_a_question_for_the_wrong_group_goes_to_the_next_one(
    system: System, browser: Browser, axe_source: str, tmp_path: Path
) -> None:
    eva, tom = "eva.een@example.org", "tom.twee@example.org"
    import_groups(
        system,
        tmp_path,
        f"Nah Een Test,nah,,yes,Eva Een,{eva},3",
        f"Nah Twee Test,nah,,yes,Tom Twee,{tom},3",
    )
    q = await ask(system, topic="nah", postcode=None)
    first = await system.wait_mail(lambda m: q["reference"] in m.subject)
    (wrong,) = first.to
    right = tom if wrong == eva else eva
    ctx = await narrow(browser)
    page = await ctx.new_page()
    await page.goto(LINK.search(first.text).group(1))
    await page.click("form.outcomes button[value='wrong_group']")
    await page.wait_for_load_state()
    second = await system.wait_mail(lambda m: q["reference"] in m.subject and m.to == [right])
    assert second.to == [right]
    entry = page.locator("li.callback", has_text=q["reference"])

    async def gone() -> bool:
        return await entry.count() == 0

    await reload_until(page, overview_of(system, wrong), gone, "still on the wrong group's list")
    await page.screenshot(
        path=str(ARTIFACTS / "contact-wrong-group-before-360.png"), full_page=True
    )
    await page.goto(overview_of(system, right))
    assert await entry.count() == 1
    await no_sideways_scroll(page)
    assert await axe(page, axe_source) == []
    await page.screenshot(path=str(ARTIFACTS / "contact-wrong-group-next-360.png"), full_page=True)
    await ctx.close()
    async with httpx.AsyncClient(timeout=10) as client:  # done: the other tests see her free
        r = await client.post(LINK.search(second.text).group(1), data={"outcome": "reached"})
        assert r.status_code < 400


async def test_a_group_leaves_after_a_confirmation_and_the_team_brings_it_back(
    system: System, browser: Browser, axe_source: str, tmp_path: Path
) -> None:
    rik = "rik.terug@example.org"
    import_groups(system, tmp_path, f"Terugkeergroep Test,psychose,,yes,Rik Terug,{rik},2")
    cid = pseudonym(Settings(secret_key=SECRET), "contact", rik)
    token = links.sign(Settings(secret_key=SECRET), "group", {"g": "terugkeergroep-test", "c": cid})
    url = system.url("routing") + f"/groups/self/{token}"
    ctx = await narrow(browser)
    page = await ctx.new_page()
    await page.goto(url)
    pause = page.get_by_role("button", name="Pauzeren")
    leave = page.get_by_role("button", name="Uit het netwerk gaan…")
    # Leaving is its own section below, not a button beside "Pauzeren".
    pause_box, leave_box = await pause.bounding_box(), await leave.bounding_box()
    assert pause_box and leave_box and leave_box["y"] > pause_box["y"] + pause_box["height"] + 40
    assert await page.locator("section.leave h2").inner_text() == "Stoppen met het netwerk"
    await no_sideways_scroll(page)
    await fully_in_view_horizontally(page, "button")
    assert await axe(page, axe_source) == []
    await page.screenshot(path=str(ARTIFACTS / "group-page-360.png"), full_page=True)

    await leave.click()
    await page.wait_for_load_state()
    assert await page.inner_text("h1") == "Wil je met je groep uit het netwerk gaan?"
    back = await page.inner_text(".come-back")
    assert "weer meedoen" in back and "netwerkteam" in back
    assert await axe(page, axe_source) == []
    await page.screenshot(path=str(ARTIFACTS / "group-leave-confirm-360.png"), full_page=True)
    wide = await browser.new_context(viewport=DESKTOP, locale="nl-NL")
    desk = await wide.new_page()
    await desk.goto(page.url)
    await desk.screenshot(path=str(ARTIFACTS / "group-leave-confirm-desktop.png"), full_page=True)
    await wide.close()
    await page.get_by_role("button", name="Ja, uit het netwerk gaan").click()
    await page.wait_for_load_state()
    assert "uit het netwerk" in await page.inner_text(".status")
    assert "weer meedoen" in await page.inner_text(".come-back")
    assert await page.locator("main button").count() == 0
    await page.screenshot(path=str(ARTIFACTS / "group-left-360.png"), full_page=True)

    # The way back: the network team switches the group on again.
    team = await staff_client(system, "coordinator")
    try:
        handoff = system.url("intake") + "/staff/handoff?to=routing&next=%2Fhealthz"
        assert (await team.get(handoff)).status_code == 200
        r = await team.post(
            system.url("routing") + "/api/v1/groups/terugkeergroep-test/status",
            json={"status": "active"},
        )
        assert r.status_code == 204, r.text
    finally:
        await team.aclose()
    await page.goto(url)
    assert "actief" in await page.inner_text(".status")
    assert await pause.is_visible() and await leave.is_visible()
    await page.screenshot(path=str(ARTIFACTS / "group-back-360.png"), full_page=True)
    await ctx.close()
