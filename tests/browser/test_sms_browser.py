"""The SMS box on the form at 360 px in real Chromium, where a gateway is configured: unticked,
with its warning read out with it, its error for a landline at the box, axe-core clean; ticked,
the thank-you page comes and the gateway gets the SMS."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterator

import pytest
from playwright.async_api import Browser

from opendeur.embedded import Postgres
from tests.browser.test_journey_browser import check_page, fill_form, narrow, send
from tests.support import Gateway, System, start_system, stop_system

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def gateway() -> Iterator[Gateway]:
    with Gateway() as g:
        yield g


@pytest.fixture(scope="module")
def sms_system(
    tmp_path_factory: pytest.TempPathFactory, pg: Postgres, gateway: Gateway
) -> Iterator[System]:
    s = start_system(tmp_path_factory.mktemp("sms-browser"), pg, OPENDEUR_SMS_URL=gateway.url)
    yield s
    stop_system(s)


async def test_the_sms_box_at_360px(
    sms_system: System, gateway: Gateway, browser: Browser, axe_source: str
) -> None:
    ctx = await narrow(browser)
    page = await ctx.new_page()
    await page.goto(sms_system.url("intake") + "/")
    box = page.locator("#sms_confirmation")
    assert await box.is_visible() and not await box.is_checked()
    hint = await page.inner_text("#sms_confirmation-hint")
    assert "iedereen die je telefoon kan zien, kan deze sms ook lezen" in hint
    assert await box.get_attribute("aria-describedby") == "sms_confirmation-hint"
    await check_page(page, axe_source, "form-sms-nl")

    await fill_form(page, "040 1234567")  # a landline: no SMS possible, said at the box
    await box.check()
    await page.click("#send")
    await page.wait_for_selector("#sms_confirmation-error")
    assert "alleen naar een Nederlands mobiel nummer" in await page.inner_text(
        "#sms_confirmation-error"
    )
    assert await page.locator("#sms_confirmation").get_attribute("aria-invalid") == "true"
    await check_page(page, axe_source, "form-sms-error-nl")

    phone = f"06 {random.randint(10_000_000, 59_999_999)}"  # 061-065: a mobile (066 is not)
    await page.fill("#phone", phone)
    assert await page.locator("#sms_confirmation").is_checked()  # kept, as she ticked it
    await send(page, "nl")
    ref = await page.inner_text(".ref")
    to = "+31" + phone.replace(" ", "")[1:]
    deadline = time.monotonic() + 30
    while not any(b["to"] == to for _h, b in gateway.requests):
        assert time.monotonic() < deadline, "no SMS reached the gateway"
        await asyncio.sleep(0.1)
    (body,) = [b for _h, b in gateway.requests if b["to"] == to]
    assert ref in body["text"]
    await ctx.close()
