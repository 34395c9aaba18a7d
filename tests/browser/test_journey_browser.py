"""The help-seeker's and the phone volunteer's journeys in real Chromium at 320 and 360 px and on a
desktop: web nl/en, switching language, someone else, crisis, reload and Back after sending (web
and phone), withdrawing (web and by phone), quick exit; axe-core on every page, a screenshot of
each under tests/artifacts/journey-*.png."""

from __future__ import annotations

import random
import re

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, Route
from sqlalchemy import text

from opendeur.db import make_engine, sessionmaker
from services.intake import users
from tests.browser.conftest import ARTIFACTS, serious_axe_violations
from tests.support import LINK, System

pytestmark = pytest.mark.browser

WIDTH = 360
NEUTRAL = "https://www.google.nl/"
SEARCH = "https://www.google.nl/search?q=zelfhulp"


async def narrow(browser: Browser, width: int = WIDTH, **kw: object) -> BrowserContext:
    address = f"100.65.{random.randint(0, 255)}.{random.randint(1, 254)}"
    ctx = await browser.new_context(
        viewport={"width": width, "height": 740},
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
    viewport = page.viewport_size["width"] if page.viewport_size else WIDTH
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= viewport, f"{shot}: page is {width}px wide at {viewport}px"
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


@pytest.mark.parametrize("width", [320, 360, 1280])
async def test_web_nl_sent_then_reloaded_and_back(
    system: System, browser: Browser, axe_source: str, width: int
) -> None:
    ctx = await narrow(browser, width)
    page = await ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    await page.goto(system.url("intake") + "/")
    at = "" if width == WIDTH else f"-{width}"
    await check_page(page, axe_source, f"form-nl{at}")
    before = await question_count(system)
    phone = phone_number()
    await fill_form(page, phone)
    await send(page, "nl")
    main = await check_page(page, axe_source, f"thanks-nl{at}")
    ref = await page.inner_text(".ref")
    assert re.fullmatch(r"OD-[A-Z0-9]{4}-[A-Z0-9]{4}", ref)
    assert re.search(
        r"uiterlijk (maandag|dinsdag|woensdag|donderdag|vrijdag|zaterdag|zondag)(avond)? ", main
    )
    assert "netwerkteam" in main and "Engels" not in main
    assert await page.locator("#quick-exit").is_visible()

    await page.reload()
    main = await page.inner_text("main")
    assert "Je vraag is ontvangen" in main and ref not in main
    assert await page.locator("a[href*='/intrekken/']").count() == 0
    await page.screenshot(path=str(ARTIFACTS / f"journey-thanks-reloaded{at}.png"), full_page=True)

    await page.go_back()
    await page.wait_for_selector("#phone")
    assert await page.input_value("#phone") == ""  # not restored on a shared device
    assert phone.replace(" ", "") not in (await page.content()).replace(" ", "")
    await page.screenshot(path=str(ARTIFACTS / f"journey-form-after-back{at}.png"), full_page=True)
    await page.go_forward()
    assert ref not in await page.inner_text("main")
    assert await question_count(system) == before + 1
    assert errors == [], errors
    await ctx.close()


async def test_web_en_says_honestly_who_will_call(
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
    assert "We look for a contact person who speaks English" in main
    assert "a Dutch-speaking contact person calls you" in main
    assert re.search(
        r"by (Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day( \d+ [A-Z][a-z]+,| evening, \d+ [A-Z])", main
    )
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
    assert re.search(r"Iemand van het netwerkteam belt je, uiterlijk \w+dag \d+ ", main), main
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
    # The browser's Back, waited for as a navigation (history.back() in evaluate raced it: the
    # page could be gone before the script's answer came back).
    await page.go_back()
    assert "127.0.0.1" not in page.url, page.url  # Back goes to the search, not to the form
    assert page.url == SEARCH

    # The keyboard: Escape twice, from the "someone else" page.
    await page.goto(system.url("intake") + "/voor-iemand-anders")
    await page.keyboard.press("Escape")
    await page.keyboard.press("Escape")
    await page.wait_for_url(NEUTRAL)
    await page.go_back()
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


async def test_after_the_call_her_own_link_asks_whether_it_helped(
    system: System, browser: Browser, axe_source: str
) -> None:
    ctx = await narrow(browser)
    page = await ctx.new_page()
    await page.goto(system.url("intake") + "/")
    await fill_form(page, phone_number())
    await send(page, "nl")
    main = await page.inner_text("main")
    assert "Na het gesprek kun je met dezelfde link laten weten of het gesprek je hielp." in main
    reference = await page.inner_text(".ref")
    own = await page.get_attribute("main a[href*='/intrekken/']", "href")
    mail = await system.wait_mail(lambda m: reference in m.subject, timeout=90)
    async with httpx.AsyncClient(timeout=30) as client:  # the contact person's part
        link = LINK.search(mail.text).group(1)
        assert (await client.post(link, data={"outcome": "reached"})).status_code == 200
    await page.goto(own if own.startswith("http") else system.url("intake") + own)
    main = await check_page(page, axe_source, "followup-nl")
    assert "Heeft het gesprek je geholpen?" in main and "anoniem" in main
    assert await page.locator("#quick-exit").is_visible()
    await page.click("main form button[value='somewhat']")
    await page.wait_for_url("**/na-het-gesprek?lang=nl")
    main = await check_page(page, axe_source, "followup-thanks-nl")
    assert "Dank je wel voor je antwoord." in main
    await page.go_back()  # her link again: it does not ask a second time
    await page.wait_for_load_state()
    assert "Heeft het gesprek je geholpen?" not in await page.inner_text("main")
    await ctx.close()


async def test_switching_language_keeps_what_was_typed(
    system: System, browser: Browser, axe_source: str
) -> None:
    ctx = await narrow(browser)
    page = await ctx.new_page()
    await page.goto(system.url("intake") + "/")
    phone = phone_number()
    await fill_form(page, phone, story="Sinds de verhuizing voel ik me alleen.")
    await page.fill("#call_times", "na vijven")
    await page.click("#lang-switch")
    await page.wait_for_selector("html[lang=en]")
    main = await check_page(page, axe_source, "form-switched-en")
    assert "Ask a self-help group your question" in main
    assert await page.input_value("#phone") == phone
    assert await page.input_value("#story") == "Sinds de verhuizing voel ik me alleen."
    assert await page.input_value("#call_times") == "na vijven"
    assert await page.input_value("#topic") == "angst" and await page.is_checked("#consent")
    # Nothing typed went into an address.
    assert page.url == system.url("intake") + "/?lang=en"
    assert await page.evaluate("window.sessionStorage.length + window.localStorage.length") == 0
    before = await question_count(system)
    await send(page, "en")
    assert "Your question has arrived" in await page.inner_text("main")
    assert await question_count(system) == before + 1
    await ctx.close()


async def new_volunteer_page(system: System, browser: Browser, width: int) -> Page:
    """A fresh volunteer signed in at the phone console (one-time password changed)."""
    engine = make_engine(system.pg.url(system.database), pool_size=1, schema="intake")
    name = f"reis-{random.randint(0, 10**9)}"
    try:
        once = await users.add_user(sessionmaker(engine), name, "phone")
    finally:
        await engine.dispose()
    ctx = await narrow(browser, width)
    page = await ctx.new_page()
    await page.goto(system.url("intake") + "/phone/login")
    await page.fill("#name", name)
    await page.fill("#password", once)
    await page.click("main button[type=submit]")
    await page.wait_for_selector("#password2")
    new = f"een-lang-wachtwoord-{random.randint(0, 10**9)}"
    await page.fill("#password", new)
    await page.fill("#password2", new)
    await page.click("main button[type=submit]")
    await page.wait_for_selector("#consent_read")
    return page


@pytest.mark.parametrize("width", [320, 1280])
async def test_phone_console_with_crisis_reload_and_back(
    system: System, browser: Browser, axe_source: str, width: int
) -> None:
    page = await new_volunteer_page(system, browser, width)
    at = f"-{width}"
    script = await check_page(page, axe_source, f"phone-console{at}")
    # Shown during the call: what to say, in the volunteer's voice, and who calls by when.
    assert "Ik schrijf je telefoonnummer op" in script and "noem je kenmerk" in script
    assert re.search(r"iemand van het netwerkteam belt je terug, uiterlijk \w+dag \d+ ", script)
    before = await question_count(system)
    # Sent too early: focus goes to the error summary, read out first (NL Design System).
    await page.click("form[action^='/phone?'] button[type=submit]")
    await page.wait_for_function("document.activeElement && document.activeElement.id === 'errors'")
    assert "Lees de toestemmingstekst voor" in await page.inner_text("#errors")
    await page.goto(system.url("intake") + "/phone")  # the next try starts from the console
    phone = phone_number()
    await page.check("#consent_read")
    await page.check("#consent")
    await page.fill("#story", "Ik zie het niet meer zitten, ik wil dood.")
    await page.fill("#phone", phone)
    await page.click("form[action^='/phone?'] button[type=submit]")
    await page.wait_for_url("**/phone/klaar**")
    main = await check_page(page, axe_source, f"phone-crisis-done{at}")
    assert main.index("Lees dit nu voor") < main.index("De vraag is ingevoerd")
    assert re.search(r"iemand van het netwerkteam belt je terug, uiterlijk \w+dag \d+ ", main)
    assert "Bel ons dan opnieuw en noem je kenmerk" in main
    ref = await page.inner_text(".ref")
    assert re.fullmatch(r"OD-[A-Z0-9]{4}-[A-Z0-9]{4}", ref)

    await page.reload()  # the volunteer may reload while the caller writes it down
    assert ref in await page.inner_text("main")
    await page.go_back()  # the console again, empty: nothing of the last caller
    await page.wait_for_selector("#consent_read")
    assert await page.input_value("#phone") == "" and await page.input_value("#story") == ""
    await page.go_forward()
    main = await page.inner_text("main")
    assert ref not in main and "Het kenmerk is al getoond" in main
    assert await question_count(system) == before + 1
    await page.context.close()


async def test_a_caller_withdraws_by_phone(
    system: System, browser: Browser, axe_source: str
) -> None:
    phone = phone_number()
    async with httpx.AsyncClient(
        base_url=system.url("intake"), headers={"X-Forwarded-For": "100.66.1.1"}
    ) as c:
        r = await c.post(
            "/api/v1/questions",
            json={
                "for_self": True,
                "phone": phone,
                "consent": {"share_with_contact": True},
            },
        )
        assert r.status_code == 202, r.text
        qid, ref = r.json()["question_id"], r.json()["reference"]
    page = await new_volunteer_page(system, browser, WIDTH)
    await page.click("text=Wil een beller een vraag intrekken?")
    await page.wait_for_selector("#reference")
    await check_page(page, axe_source, "phone-withdraw")
    await page.fill("#reference", ref.replace("-", " ").lower())  # as the caller spells it
    await page.fill("#phone", phone)
    await page.click("main form button[type=submit]")
    await page.wait_for_url("**/phone/ingetrokken**")
    main = await check_page(page, axe_source, "phone-withdrawn")
    assert "De vraag is ingetrokken en de gegevens zijn gewist." in main
    assert "Niemand belt je hierover terug" in main
    engine = make_engine(system.pg.url(system.database), pool_size=1, schema="intake")
    try:
        async with engine.connect() as conn:
            erased = await conn.execute(
                text("SELECT erased_at FROM intake.questions WHERE question_id = CAST(:q AS uuid)"),
                {"q": qid},
            )
            assert erased.scalar() is not None
    finally:
        await engine.dispose()
    await page.context.close()
