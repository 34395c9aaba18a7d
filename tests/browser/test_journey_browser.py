"""The help-seeker's journeys in real Chromium at 360 px: web nl/en, someone else, crisis, reload and
Back after sending, quick exit; axe-core on every page, a screenshot of each under tests/artifacts/."""

from __future__ import annotations

import random
import re

import pytest
from playwright.async_api import Browser, BrowserContext, Page, Route
from sqlalchemy import text

from opendeur.db import make_engine
from tests.browser.conftest import ARTIFACTS, serious_axe_violations
from tests.support import System

pytestmark = pytest.mark.browser

WIDTH = 360
NEUTRAL = "https://www.google.nl/"
SEARCH = "https://www.google.nl/search?q=zelfhulp"


async def narrow(browser: Browser, **kw: object) -> BrowserContext:
    address = f"100.65.{random.randint(0, 255)}.{random.randint(1, 254)}"
    ctx = await browser.new_context(
        viewport={"width": WIDTH, "height": 740},
        extra_http_headers={"X-Forwarded-For": address},
        bypass_csp=True,  # only so axe-core can be injected; the app's own script is a file
        **kw,
    )

    async def neutral(route: Route) -> None:  # the neutral site, without the internet
        await route.fulfill(
            body="<!doctype html><title>Zoeken</title><p>neutraal</p>", content_type="text/html"
        )

    await ctx.route("https://www.google.nl/**", neutral)
    return ctx


async def question_count(system: System) -> int:
    engine = make_engine(system.pg.url(system.database), pool_size=1, schema="intake")
    try:
        async with engine.connect() as conn:
            return int((await conn.execute(text("SELECT count(*) FROM intake.questions"))).scalar())
    finally:
        await engine.dispose()


async def check_page(page: Page, axe_source: str, shot: str) -> str:
    """No sideways scroll, no serious axe finding, a screenshot; the main text."""
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= WIDTH, f"{shot}: page is {width}px wide at {WIDTH}px"
    assert await serious_axe_violations(page, axe_source) == [], shot
    await page.screenshot(path=str(ARTIFACTS / f"journey-{shot}.png"), full_page=True)
    return await page.inner_text("main")


def phone_number() -> str:
    # 061-066 and 068 are mobile ranges; 067 and 069 are not numbers (refused by the form).
    return f"06 {random.randint(10_000_000, 66_999_999)}"


async def fill_form(page: Page, phone: str, story: str = "") -> None:
    await page.fill("#phone", phone)
    if story:
        await page.fill("#story", story)
    await page.select_option("#topic", "angst")
    await page.check("#consent")


async def send(page: Page, lang: str) -> None:
    """Press send; the browser lands on the thank-you page (or the test says what it saw)."""
    await page.click("#send")
    try:
        await page.wait_for_url(f"**/bedankt?lang={lang}", timeout=60_000)
    except Exception as exc:
        shown = await page.locator("#errors, h1").all_inner_texts()
        raise AssertionError(f"not sent: {page.url} {shown}") from exc


async def test_web_nl_sent_then_reloaded_and_back(
    system: System, browser: Browser, axe_source: str
) -> None:
    ctx = await narrow(browser)
    page = await ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    await page.goto(system.url("intake") + "/")
    await check_page(page, axe_source, "form-nl")
    before = await question_count(system)
    phone = phone_number()
    await fill_form(page, phone)
    await send(page, "nl")
    main = await check_page(page, axe_source, "thanks-nl")
    ref = await page.inner_text(".ref")
    assert re.fullmatch(r"OD-[A-Z0-9]{4}-[A-Z0-9]{4}", ref)
    assert re.search(
        r"uiterlijk (maandag|dinsdag|woensdag|donderdag|vrijdag|zaterdag|zondag) ", main
    )
    assert "netwerkteam" in main and "Nederlands" not in main
    assert await page.locator("#quick-exit").is_visible()

    await page.reload()
    main = await page.inner_text("main")
    assert "Je vraag is ontvangen" in main and ref not in main
    assert await page.locator("a[href*='/intrekken/']").count() == 0
    await page.screenshot(path=str(ARTIFACTS / "journey-thanks-reloaded.png"), full_page=True)

    await page.go_back()
    await page.wait_for_selector("#phone")
    assert await page.input_value("#phone") == ""  # not restored on a shared device
    assert phone.replace(" ", "") not in (await page.content()).replace(" ", "")
    await page.screenshot(path=str(ARTIFACTS / "journey-form-after-back.png"), full_page=True)
    await page.go_forward()
    assert ref not in await page.inner_text("main")
    assert await question_count(system) == before + 1
    assert errors == [], errors
    await ctx.close()


async def test_web_en_says_the_call_may_be_in_dutch(
    system: System, browser: Browser, axe_source: str
) -> None:
    ctx = await narrow(browser)
    page = await ctx.new_page()
    await page.goto(system.url("intake") + "/?lang=en")
    await check_page(page, axe_source, "form-en")
    await fill_form(page, phone_number())
    await send(page, "en")
    main = await check_page(page, axe_source, "thanks-en")
    assert "Your question has arrived" in main
    assert "probably call you in Dutch" in main
    assert re.search(r"by (Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day \d+ [A-Z][a-z]+, ", main)
    assert await page.inner_text("#quick-exit") == "Quick exit"
    await ctx.close()


async def test_crisis_thanks_page_says_what_really_happens(
    system: System, browser: Browser, axe_source: str
) -> None:
    ctx = await narrow(browser)
    page = await ctx.new_page()
    await page.goto(system.url("intake") + "/")
    await fill_form(page, phone_number(), story="Ik zie het niet meer zitten, ik wil dood.")
    await send(page, "nl")
    main = await check_page(page, axe_source, "thanks-crisis-nl")
    assert main.index("Lees dit eerst") < main.index("Je vraag is ontvangen")
    assert "netwerkteam kijkt vandaag nog" in main
    assert "contactpersoon" not in main.lower() and "24 uur" not in main
    for number in ("113", "08000113", "112"):
        link = page.locator(f"main a[href='tel:{number}']").first
        assert await link.is_visible(), number
    assert await page.locator("aside.crisis a[href='tel:08000113']").is_visible()
    await ctx.close()


async def test_someone_else_gets_a_link_to_share_and_a_path_of_their_own(
    system: System, browser: Browser, axe_source: str
) -> None:
    ctx = await narrow(browser)
    await ctx.grant_permissions(["clipboard-read", "clipboard-write"])
    page = await ctx.new_page()
    await page.goto(system.url("intake") + "/")
    # Asked first, before anything else on the form, with the way out right there.
    first = await page.evaluate(
        "document.querySelector('form').querySelector('fieldset, select, textarea, "
        "input:not([type=hidden])').querySelector('legend').textContent"
    )
    assert first == "Is deze vraag voor jezelf?"
    legend = page.locator("form fieldset legend").first
    assert await legend.inner_text() == "Is deze vraag voor jezelf?"
    before = await question_count(system)
    await page.click("text=Ik vraag voor iemand anders")
    await page.wait_for_url("**/voor-iemand-anders?lang=nl")
    main = await check_page(page, axe_source, "someone-else-nl")
    assert "Ctrl+P" not in main and "000 0000" not in main
    share_url = await page.get_attribute("#share-url", "href")
    assert share_url == system.url("intake") + "/"
    await page.click("#copy")
    await page.wait_for_function("document.getElementById('copied').textContent.length > 0")
    assert await page.evaluate("navigator.clipboard.readText()") == share_url
    await page.click("text=Stel je eigen vraag over mantelzorg")
    await page.wait_for_selector("#topic")
    assert await page.input_value("#topic") == "mantelzorg"

    # The radio button path: "no", send, nothing else filled in, nothing stored.
    await page.goto(system.url("intake") + "/?lang=en")
    await page.check("input[name=for_self][value=no]")
    await page.click("#send")
    await page.wait_for_url("**/voor-iemand-anders?lang=en")
    await check_page(page, axe_source, "someone-else-en")
    assert await question_count(system) == before
    await ctx.close()


async def test_quick_exit_leaves_no_way_back(system: System, browser: Browser) -> None:
    ctx = await narrow(browser)
    page = await ctx.new_page()
    await page.goto(SEARCH)  # where the person came from
    await page.goto(system.url("intake") + "/")
    await page.fill("#story", "Iets wat niemand mag zien.")
    await page.click("#quick-exit")
    await page.wait_for_url(NEUTRAL)
    await page.screenshot(path=str(ARTIFACTS / "journey-quick-exit.png"))
    await page.evaluate("history.back()")
    await page.wait_for_load_state()
    await page.wait_for_timeout(300)
    assert "127.0.0.1" not in page.url, page.url  # Back goes to the search, not to the form
    assert page.url == SEARCH

    # The keyboard: Escape twice, from the "someone else" page.
    await page.goto(system.url("intake") + "/voor-iemand-anders")
    await page.keyboard.press("Escape")
    await page.keyboard.press("Escape")
    await page.wait_for_url(NEUTRAL)
    await page.evaluate("history.back()")
    await page.wait_for_timeout(300)
    assert "voor-iemand-anders" not in page.url, page.url

    # Without JavaScript the button is a plain link to the same neutral page.
    nojs = await browser.new_context(
        viewport={"width": WIDTH, "height": 740}, java_script_enabled=False
    )
    p2 = await nojs.new_page()
    await p2.goto(system.url("intake") + "/bedankt")
    assert await p2.get_attribute("#quick-exit", "href") == NEUTRAL
    await nojs.close()
    await ctx.close()


async def test_withdraw_from_the_thank_you_page(
    system: System, browser: Browser, axe_source: str
) -> None:
    ctx = await narrow(browser)
    page = await ctx.new_page()
    await page.goto(system.url("intake") + "/")
    await fill_form(page, phone_number())
    await send(page, "nl")
    before = await question_count(system)
    await page.click("main a[href*='/intrekken/']")
    await page.wait_for_url("**/intrekken/**")
    await page.wait_for_selector("main form button")
    main = await check_page(page, axe_source, "withdraw-nl")
    assert "wissen we je telefoonnummer en je verhaal meteen" in main
    assert "Bewaar deze link" not in main
    await page.click("main form button")
    await page.wait_for_load_state()
    main = await check_page(page, axe_source, "withdrawn-nl")
    assert "Je vraag is ingetrokken en je gegevens zijn gewist." in main
    assert await page.locator("#quick-exit").is_visible()
    assert await question_count(system) == before  # erased, not a new one
    await ctx.close()
