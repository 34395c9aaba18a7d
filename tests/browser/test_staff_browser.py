"""Staff journeys in real Chromium at 360 px: one sign-in at intake, then only what the role
allows (a team member's triage, an operator's console without address changes, a report viewer's
report), axe-core clean, screenshots under tests/artifacts/."""

from __future__ import annotations

import uuid

import pytest
from playwright.async_api import Browser, BrowserContext, Page

from tests.browser.conftest import ARTIFACTS
from tests.support import System, add_staff

pytestmark = pytest.mark.browser
WIDTH = 360


async def serious_axe_violations(page: Page, axe_source: str) -> list[str]:
    """axe-core's serious and critical findings, injected through the DevTools protocol: the
    pages keep their CSP (a bypassed CSP would not hold the sign-in's redirects to form-action)."""
    await page.evaluate(axe_source + "\n;0")
    result = await page.evaluate(
        "axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'wcag21aa', 'best-practice']})"
    )
    return [
        f"{v['id']}: {v['help']}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def js_errors(page: Page) -> list[str]:
    """Script errors on the page (a refused page's 403 or a missing favicon is no script error)."""
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on(
        "console",
        lambda m: (
            errors.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource")
            else None
        ),
    )
    return errors


async def sign_in_at(
    browser: Browser, system: System, start: str, *roles: str, width: int = WIDTH
) -> tuple[BrowserContext, Page, list[str]]:
    """Open a staff page, get sent to intake's sign-in, sign in with a new account of these roles
    (choosing a password), and land back on the page."""
    ctx = await browser.new_context(viewport={"width": width, "height": 800})
    page = await ctx.new_page()
    errors = js_errors(page)
    name, once = add_staff(system, *roles)
    await page.goto(start)
    assert page.url.startswith(system.url("intake") + "/staff/login"), page.url
    await page.fill("#name", name)
    await page.fill("#password", once)
    await page.click("button[type=submit]")
    await page.wait_for_url(system.url("intake") + "/staff/password**")
    new = f"lang-genoeg-{uuid.uuid4().hex[:8]}"
    await page.fill("#password", new)
    await page.fill("#password2", new)
    await page.click("button[type=submit]")
    await page.wait_for_url(start + "**")
    return ctx, page, errors


async def no_sideways_scroll(page: Page) -> None:
    scroll = await page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= WIDTH, f"page is {scroll}px wide at {WIDTH}px"


async def test_a_team_member_signs_in_at_intake_and_reaches_triage(
    system: System, browser: Browser, axe_source: str
) -> None:
    ctx = await browser.new_context(viewport={"width": WIDTH, "height": 800})
    page = await ctx.new_page()
    await page.goto(system.url("intake") + "/staff/login")
    assert await serious_axe_violations(page, axe_source) == []
    await page.screenshot(path=str(ARTIFACTS / "staff-login-360.png"), full_page=True)
    await ctx.close()

    ctx, page, errors = await sign_in_at(
        browser, system, system.url("routing") + "/triage", "teamlid"
    )
    assert await page.inner_text("h1") == "Wachtrij van het netwerkteam"
    assert await serious_axe_violations(page, axe_source) == []
    await page.screenshot(path=str(ARTIFACTS / "staff-triage-360.png"), full_page=True)
    # The one sign-in's overview lists only what the role opens.
    await page.goto(system.url("intake") + "/staff")
    links = await page.locator(".staff-pages a").all_inner_texts()
    assert links == ["Crisisvragen terugbellen", "Triage: vragen zonder groep"], links
    assert await serious_axe_violations(page, axe_source) == []
    await no_sideways_scroll(page)
    await page.screenshot(path=str(ARTIFACTS / "staff-home-360.png"), full_page=True)
    assert errors == [], errors
    await ctx.close()


async def test_an_operator_reaches_the_console_but_is_refused_an_address_change(
    system: System, browser: Browser, axe_source: str
) -> None:
    ctx, page, errors = await sign_in_at(browser, system, system.url("audit") + "/", "beheerder")
    await page.wait_for_selector("h1:has-text('Console')")
    await page.screenshot(path=str(ARTIFACTS / "staff-console-360.png"), full_page=True)
    # The same sign-in reaches notify; the operator's role changes no address there.
    await page.goto(
        system.url("intake") + "/staff/handoff?to=notify&next=%2Fhealthz", wait_until="load"
    )
    assert page.url == system.url("notify") + "/healthz"
    r = await ctx.request.put(
        system.url("notify") + "/api/v1/contacts/c-browser-test",
        data={"email": "elders@evil.example", "channel": "email", "language": "nl"},
    )
    assert r.status == 403 and (await r.json())["error"] == "forbidden"
    await page.goto(system.url("routing") + "/triage")
    assert await page.inner_text("h1") == "Geen toegang"
    assert errors == [], errors
    await ctx.close()


async def test_a_report_viewer_sees_only_the_report(
    system: System, browser: Browser, axe_source: str
) -> None:
    ctx, page, errors = await sign_in_at(
        browser, system, system.url("audit") + "/report", "rapportage"
    )
    assert "Maandrapport" in await page.inner_text("h1")
    assert await page.locator("input[type=month]").count() == 1
    assert await serious_axe_violations(page, axe_source) == []
    await no_sideways_scroll(page)
    await page.screenshot(path=str(ARTIFACTS / "staff-report-360.png"), full_page=True)
    response = await page.goto(system.url("audit") + "/")
    assert response is not None and response.status == 403
    assert await page.inner_text("h1") == "Geen toegang"
    assert await serious_axe_violations(page, axe_source) == []
    await page.screenshot(path=str(ARTIFACTS / "staff-report-viewer-refused-360.png"))
    assert errors == [], errors
    await ctx.close()
