"""The team's crisis callback and the coordinator's accounts page in real Chromium, at 360 px and
on a desktop: axe-core clean, no sideways scrolling, screenshots under tests/artifacts/."""

from __future__ import annotations

import uuid

import httpx
import pytest
from playwright.async_api import Browser

from tests.browser.conftest import ARTIFACTS
from tests.browser.test_staff_browser import serious_axe_violations, sign_in_at
from tests.support import System, question

pytestmark = pytest.mark.browser
SIZES = ((360, "360"), (1280, "desktop"))


async def fits(page, width: int) -> None:
    scroll = await page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"page is {scroll}px wide at {width}px"


async def crisis_question(system: System) -> tuple[str, str]:
    phone = "0612" + uuid.uuid4().int.__str__()[:6]
    async with httpx.AsyncClient() as c:
        r = await c.post(
            system.url("intake") + "/api/v1/questions",
            json=question(phone=phone, story="Ik wil niet meer leven.", topic=None),
        )
    assert r.status_code == 202 and r.json()["advice"]["professional_help"], r.text
    return r.json()["reference"], phone


@pytest.mark.parametrize(("width", "label"), SIZES)
async def test_a_team_member_calls_back_a_crisis_question(
    system: System, browser: Browser, axe_source: str, width: int, label: str
) -> None:
    ref, phone = await crisis_question(system)
    intake = system.url("intake")
    ctx, page, errors = await sign_in_at(
        browser, system, intake + "/staff/crisis", "teamlid", width=width
    )
    try:
        assert await page.inner_text("h1") == "Crisisvragen terugbellen"
        item = page.locator(".crisis-item", has=page.locator(f"a[href='/staff/crisis/{ref}']"))
        assert "Nog niet gebeld" in await item.inner_text()
        assert phone[-6:] not in await page.content()
        assert await serious_axe_violations(page, axe_source) == []
        await fits(page, width)
        await page.screenshot(
            path=str(ARTIFACTS / f"staff-crisis-list-{label}.png"), full_page=True
        )

        await item.locator("a.button").click()
        await page.wait_for_url(f"{intake}/staff/crisis/{ref}")
        tel = page.locator("#tel")
        assert (await tel.get_attribute("href")).startswith("tel:")
        assert phone[-6:] in (await tel.inner_text()).replace(" ", "")
        assert await serious_axe_violations(page, axe_source) == []
        await fits(page, width)
        await page.screenshot(
            path=str(ARTIFACTS / f"staff-crisis-call-{label}.png"), full_page=True
        )

        await page.click("button[value=unreachable]")
        await page.wait_for_url(f"{intake}/staff/crisis/{ref}?done=unreachable")
        assert "Genoteerd: niet bereikt" in await page.inner_text("#saved")
        assert "niet bereikt (medewerker" in await page.inner_text(".tries")
        # Reload after the post sends nothing again: still one try.
        await page.reload()
        assert await page.locator(".tries li").count() == 1

        # The irreversible outcome asks first.
        confirm = page.locator("details.confirm", has_text="Bereikt").first
        assert not await confirm.locator("button").is_visible()
        await confirm.locator("summary").click()
        assert "Zeker weten?" in await confirm.inner_text()
        assert await serious_axe_violations(page, axe_source) == []
        await page.screenshot(
            path=str(ARTIFACTS / f"staff-crisis-confirm-{label}.png"), full_page=True
        )
        await confirm.locator("button").click()
        await page.wait_for_url(f"{intake}/staff/crisis?**")
        assert f"Genoteerd voor {ref}: Bereikt" in await page.inner_text("#saved")
        assert await page.locator(f"a[href='/staff/crisis/{ref}']").count() == 0
        assert await serious_axe_violations(page, axe_source) == []
        await page.screenshot(
            path=str(ARTIFACTS / f"staff-crisis-done-{label}.png"), full_page=True
        )
        assert errors == [], errors
    finally:
        await ctx.close()


async def test_a_phone_volunteer_sees_no_crisis_number(
    system: System, browser: Browser, axe_source: str
) -> None:
    ref, phone = await crisis_question(system)
    intake = system.url("intake")
    ctx, page, _ = await sign_in_at(browser, system, intake + "/staff", "telefoonvrijwilliger")
    try:
        response = await page.goto(f"{intake}/staff/crisis/{ref}")
        assert response is not None and response.status == 403
        assert await page.inner_text("h1") == "Geen toegang"
        assert phone[-6:] not in await page.content()
        assert await serious_axe_violations(page, axe_source) == []
        await page.screenshot(path=str(ARTIFACTS / "staff-crisis-refused-360.png"))
    finally:
        await ctx.close()


@pytest.mark.parametrize(("width", "label"), SIZES)
async def test_a_coordinator_adds_an_account(
    system: System, browser: Browser, axe_source: str, width: int, label: str
) -> None:
    intake = system.url("intake")
    ctx, page, errors = await sign_in_at(
        browser, system, intake + "/staff/accounts", "coordinator", width=width
    )
    try:
        assert await page.inner_text("h1") == "Medewerkers en rollen"
        assert await serious_axe_violations(page, axe_source) == []
        await fits(page, width)
        name = f"teamlid-{uuid.uuid4().hex[:6]}"
        await page.fill("#new-name", name)
        await page.check("form:has(#new-name) input[value=teamlid]")
        await page.click("form:has(#new-name) button[type=submit]")
        await page.wait_for_url(intake + "/staff/accounts")
        link = await page.input_value("#signin-link")
        assert "/staff/first/" in link
        account = page.locator(f"#account-{name}")
        assert "Teamlid" in await account.inner_text()
        assert await serious_axe_violations(page, axe_source) == []
        await fits(page, width)
        await page.screenshot(path=str(ARTIFACTS / f"staff-accounts-{label}.png"), full_page=True)
        await page.reload()  # shown once
        assert await page.locator("#signin-link").count() == 0

        await account.locator("summary").click()
        await account.locator("details.confirm button").click()
        await page.wait_for_url(intake + "/staff/accounts")
        assert f"{name} is uitgezet" in await page.inner_text("#saved")
        assert "Uitgezet" in await page.locator(f"#account-{name}").inner_text()
        await page.screenshot(
            path=str(ARTIFACTS / f"staff-accounts-disabled-{label}.png"), full_page=True
        )

        # The person's one-time link no longer signs in a disabled account.
        person = await browser.new_context()
        try:
            p = await person.new_page()
            response = await p.goto(link)
            assert response is not None and response.status == 410
        finally:
            await person.close()
        assert errors == [], errors
    finally:
        await ctx.close()
