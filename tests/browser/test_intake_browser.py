"""The form and the phone console in real Chromium at 320 px, plus an axe-core check."""

from __future__ import annotations

import random
import re
import uuid

import pytest
from playwright.async_api import Browser, BrowserContext, Page

from opendeur.db import make_engine, sessionmaker
from services.intake import users
from tests.browser.conftest import ARTIFACTS, serious_axe_violations
from tests.support import System

pytestmark = pytest.mark.browser

TEXT = {
    "nl": {"send": "Verstuur mijn vraag", "thanks": "Je vraag is ontvangen", "check": "Controleer"},
    "en": {
        "send": "Send my question",
        "thanks": "Your question has arrived",
        "check": "Please check",
    },
}


async def narrow(browser: Browser, **kw: object) -> BrowserContext:
    address = f"100.64.{random.randint(0, 255)}.{random.randint(1, 254)}"
    return await browser.new_context(
        viewport={"width": 320, "height": 640},
        extra_http_headers={"X-Forwarded-For": address},
        **kw,
    )


async def no_sideways_scroll(page: Page) -> None:
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 320, f"page is {width}px wide at a 320px viewport"


@pytest.mark.parametrize("lang", ["nl", "en"])
async def test_form_at_320px(system: System, browser: Browser, lang: str) -> None:
    ctx = await narrow(browser)
    page = await ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if "Security Policy" in m.text else None)
    await page.goto(system.url("intake") + f"/?lang={lang}")
    await no_sideways_scroll(page)

    await page.fill("#phone", "12")
    await page.fill("#postcode", "abc")
    await page.click(f"text={TEXT[lang]['send']}")
    await page.wait_for_selector("#errors")
    assert TEXT[lang]["check"] in await page.inner_text("#errors")
    # Focus moves to the error summary, so a screen reader reads it first.
    await page.wait_for_function("document.activeElement && document.activeElement.id === 'errors'")
    shown = await page.eval_on_selector_all(".field-error", "els => els.map(e => e.id)")
    assert shown == ["phone-error", "postcode-error", "consent-error"]
    assert await page.get_attribute("#phone", "aria-invalid") == "true"
    assert await page.input_value("#phone") == "12"
    await no_sideways_scroll(page)
    await page.screenshot(path=str(ARTIFACTS / f"form-errors-{lang}.png"), full_page=True)

    await page.click("#errors a[href='#phone']")
    assert page.url.endswith("#phone")
    await page.fill("#phone", "06 12345678")
    await page.fill("#postcode", "5611")
    await page.select_option("#topic", "angst")
    await page.check("#consent")
    await page.click(f"text={TEXT[lang]['send']}")
    await page.wait_for_selector(".ref")
    assert TEXT[lang]["thanks"] in await page.inner_text("main")
    assert re.fullmatch(r"OD-[A-Z0-9]{4}-[A-Z0-9]{4}", await page.inner_text(".ref"))
    await no_sideways_scroll(page)
    await page.screenshot(path=str(ARTIFACTS / f"form-thanks-{lang}.png"), full_page=True)
    assert errors == [], errors  # nothing broken by the CSP, no script errors
    await ctx.close()


async def test_phone_console_by_keyboard(system: System, browser: Browser) -> None:
    engine = make_engine(system.pg.url(system.database), pool_size=1, schema="intake")
    name = f"toets-{uuid.uuid4().hex[:6]}"
    try:
        once = await users.add_user(sessionmaker(engine), name, "phone")
    finally:
        await engine.dispose()
    ctx = await narrow(browser)
    page = await ctx.new_page()
    await page.goto(system.url("intake") + "/phone/login")
    # The name field has focus: a volunteer can type, Tab, type, Enter.
    await page.wait_for_function("document.activeElement && document.activeElement.id === 'name'")
    await page.keyboard.type(name)
    await page.keyboard.press("Tab")
    await page.keyboard.type(once)
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#password2, #login-error")
    assert await page.query_selector("#login-error") is None, await page.inner_text("main")
    new = "een-lang-wachtwoord-" + uuid.uuid4().hex[:6]
    await page.keyboard.type(new)
    await page.keyboard.press("Tab")
    await page.keyboard.type(new)
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#consent_read")
    assert await page.evaluate("document.activeElement.id") == "consent_read"
    await page.keyboard.press("Space")  # script read aloud
    await page.check("#consent")
    await page.fill("#story", "Ik zie het niet meer zitten, ik wil dood.")
    await page.fill("#phone", "06 12345678")
    await no_sideways_scroll(page)
    await page.screenshot(path=str(ARTIFACTS / "phone-console.png"), full_page=True)
    await page.focus("#phone")
    await page.keyboard.press("Enter")
    await page.wait_for_selector(".ref")
    main = await page.inner_text("main")
    assert main.index("Lees dit nu voor") < main.index("De vraag is ingevoerd")
    await page.screenshot(path=str(ARTIFACTS / "phone-done.png"), full_page=True)
    await page.click("text=Afmelden")
    await page.wait_for_selector("#password")
    await ctx.close()


AXE_PAGES = [
    "/",
    "/?lang=en",
    "/voor-iemand-anders",
    "/voor-iemand-anders?lang=en",
    "/bedankt",
    "/bedankt?lang=en",
    "/intrekken/00000000-0000-0000-0000-000000000000?token=x",
    "/phone/login",
]


async def test_axe_finds_no_serious_problems(
    system: System, browser: Browser, axe_source: str
) -> None:
    ctx = await narrow(browser, bypass_csp=True)  # only to inject axe itself
    page = await ctx.new_page()
    found: dict[str, list[str]] = {}
    for path in [*AXE_PAGES, "error-page"]:
        if path == "error-page":
            await page.goto(system.url("intake") + "/?lang=en")
            await page.fill("#phone", "1")
            await page.click("text=Send my question")
            await page.wait_for_selector("#errors")
        else:
            await page.goto(system.url("intake") + path)
        bad = await serious_axe_violations(page, axe_source)
        if bad:
            found[path] = bad
    await ctx.close()
    assert found == {}
