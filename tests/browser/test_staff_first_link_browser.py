"""A one-time sign-in link in real Chromium at 360 px: opening it shows one button and spends
nothing; the button (a same-origin post with the browser's own Origin and Sec-Fetch-Site)
signs in to choose a password; the link is spent after. axe-core clean, a screenshot."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from playwright.async_api import Browser

from opendeur.db import make_engine, sessionmaker
from services.intake import users
from tests.browser.conftest import ARTIFACTS
from tests.browser.test_staff_browser import WIDTH, no_sideways_scroll, serious_axe_violations
from tests.support import System, add_staff

pytestmark = pytest.mark.browser


async def test_a_sign_in_link_opens_a_page_and_only_its_button_signs_in(
    system: System, browser: Browser, axe_source: str
) -> None:
    name, _ = add_staff(system, "teamlid")
    engine = make_engine(system.pg.url(system.database), pool_size=1, schema="intake")
    try:
        now = datetime.now(UTC)
        token = await users.signin_link(sessionmaker(engine), name, now, timedelta(hours=1))
    finally:
        await engine.dispose()
    link = f"{system.url('intake')}/staff/first/{token}"
    ctx = await browser.new_context(viewport={"width": WIDTH, "height": 800})
    try:
        page = await ctx.new_page()
        for _ in range(2):  # opened twice (a preview, then the person): still usable
            response = await page.goto(link)
            assert response is not None and response.status == 200
        button = page.locator("main form button[type=submit]")
        assert await button.inner_text() == f"Aanmelden als {name}"
        assert not [c for c in await ctx.cookies() if c["name"] == "od_staff_in"]
        assert await serious_axe_violations(page, axe_source) == []
        await no_sideways_scroll(page)
        await page.screenshot(path=str(ARTIFACTS / "staff-first-link-360.png"), full_page=True)
        async with page.expect_navigation():
            await button.click()
        assert page.url.startswith(system.url("intake") + "/staff/password"), (
            page.url,
            await page.inner_text("main"),
        )
        assert await page.locator("#password2").count() == 1
        response = await page.goto(link)  # spent
        assert response is not None and response.status == 410
    finally:
        await ctx.close()
