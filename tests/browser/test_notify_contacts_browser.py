"""The coordinator's contact persons page (notify /contacts) in real Chromium at 360 px: masked
addresses, a change that waits for the new address, the confirmation page behind the mailed link;
an operator is refused. axe-core clean; screenshots tests/artifacts/staff-contacts-*.png."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.async_api import Browser

from tests.browser.conftest import ARTIFACTS
from tests.browser.test_staff_browser import (
    WIDTH,
    no_sideways_scroll,
    serious_axe_violations,
    sign_in_at,
)
from tests.support import System

pytestmark = pytest.mark.browser
CONFIRM = re.compile(r"(http://127\.0\.0\.1:\d+/contacts/confirm/[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+)")


async def test_a_coordinator_changes_an_address_and_the_new_address_confirms_it(
    system: System, browser: Browser, axe_source: str
) -> None:
    notify = system.url("notify")
    ctx, page, errors = await sign_in_at(browser, system, notify + "/contacts", "coordinator")
    tag = uuid.uuid4().hex[:8]
    cid, old, new = f"c-browser-{tag}", f"oud.{tag}@example.org", f"nieuw.{tag}@example.org"
    r = await ctx.request.put(
        f"{notify}/api/v1/contacts/{cid}",
        data={"email": old, "channel": "email", "language": "nl"},
    )
    assert r.status == 200, await r.text()
    await page.goto(notify + "/contacts")
    assert await page.inner_text("h1") == "Contactpersonen"
    card = page.locator(f"#c-{cid}")
    assert await card.locator(".email").inner_text() == "o***@example.org"
    assert old not in await page.content()
    assert await serious_axe_violations(page, axe_source) == []
    await no_sideways_scroll(page)
    await page.screenshot(path=str(ARTIFACTS / "staff-contacts-360.png"), full_page=True)

    # A typing error: said next to the field and in the summary, nothing changed.
    await card.locator("summary").click()
    await card.locator("input[name=email]").fill("niet-een-adres")
    await card.locator("button[type=submit]").click()
    await page.wait_for_selector("#errors")
    assert "Vul een e-mailadres in" in await page.inner_text("#errors")
    card = page.locator(f"#c-{cid}")
    assert await card.locator("input[name=email]").get_attribute("aria-invalid") == "true"
    assert await serious_axe_violations(page, axe_source) == []
    await no_sideways_scroll(page)
    await page.screenshot(path=str(ARTIFACTS / "staff-contacts-error-360.png"), full_page=True)

    await card.locator("input[name=email]").fill(new)
    await card.locator("button[type=submit]").click()
    await page.wait_for_url("**/contacts?done=pending")
    assert "Het nieuwe adres krijgt een bevestigingslink" in await page.inner_text("[role=status]")
    card = page.locator(f"#c-{cid}")
    assert "Wacht op bevestiging" in await card.locator(".pending").inner_text()
    # Still the old address in effect until the new one confirms.
    assert await card.locator(".email").inner_text() == "o***@example.org"
    assert new not in await page.content()
    assert await serious_axe_violations(page, axe_source) == []
    await no_sideways_scroll(page)
    await page.screenshot(path=str(ARTIFACTS / "staff-contacts-pending-360.png"), full_page=True)
    # Reload after the redirect: a GET, no second change sent.
    await page.reload()
    assert len([m for m in system.smtp.mails if m.to == [new]]) <= 1

    await page.goto(notify + "/contacts?lang=en")
    assert await page.inner_text("h1") == "Contact persons"
    assert await serious_axe_violations(page, axe_source) == []
    await no_sideways_scroll(page)

    mail = await system.wait_mail(lambda m: m.to == [new])
    link = CONFIRM.search(mail.text).group(1)
    person = await browser.new_context(viewport={"width": WIDTH, "height": 800})
    confirm = await person.new_page()
    await confirm.goto(link)
    assert await confirm.inner_text("h1") == "Nieuw adres bevestigen"
    assert await serious_axe_violations(confirm, axe_source) == []
    await no_sideways_scroll(confirm)
    await confirm.screenshot(path=str(ARTIFACTS / "staff-contacts-confirm-360.png"), full_page=True)
    await confirm.click("#confirm")
    await confirm.wait_for_selector("h1:has-text('Adres bevestigd')")
    assert await serious_axe_violations(confirm, axe_source) == []
    await confirm.screenshot(
        path=str(ARTIFACTS / "staff-contacts-confirmed-360.png"), full_page=True
    )
    await person.close()

    await page.goto(notify + "/contacts")
    card = page.locator(f"#c-{cid}")
    assert await card.locator(".pending").count() == 0
    assert await card.locator(".email").inner_text() == "n***@example.org"
    assert errors == [], errors
    await ctx.close()


async def test_an_operator_does_not_get_the_contacts_page(
    system: System, browser: Browser, axe_source: str
) -> None:
    notify = system.url("notify")
    ctx, page, errors = await sign_in_at(browser, system, notify + "/contacts", "beheerder")
    assert await page.inner_text("h1") == "Geen toegang"
    assert await serious_axe_violations(page, axe_source) == []
    await page.screenshot(path=str(ARTIFACTS / "staff-contacts-refused-360.png"), full_page=True)
    assert errors == [], errors
    await ctx.close()
