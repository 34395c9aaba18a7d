"""The network team's queue in Chromium at 360 px and on a desktop: a crisis question first, its
'Bel terug' to intake, reasons and places in words, the matcher's suggestions, closing asked
twice; axe-core clean, screenshots under tests/artifacts/."""

from __future__ import annotations

import httpx
import pytest
from playwright.async_api import Browser

from tests.browser.conftest import ARTIFACTS
from tests.browser.test_staff_browser import serious_axe_violations, sign_in_at
from tests.support import System, question

pytestmark = pytest.mark.browser
WIDTH = 360


async def test_a_team_member_sees_a_crisis_question_first_at_360px(
    system: System, browser: Browser, axe_source: str
) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        r = await client.post(
            system.url("intake") + "/api/v1/questions",
            json=question(story="Ik wil niet meer leven.", topic="rouw"),
        )
        assert r.status_code == 202, r.text
        crisis = r.json()
        r = await client.post(
            system.url("intake") + "/api/v1/questions", json=question(topic="adhd", postcode="5701")
        )
        assert r.status_code == 202, r.text
        plain = r.json()
    for q in (crisis, plain):
        await system.wait_audit(q["question_id"], ["question.unmatched.v1"])

    ctx, page, errors = await sign_in_at(
        browser, system, system.url("routing") + "/triage", "teamlid"
    )
    first = page.locator("li.question").first
    assert "crisis" in (await first.get_attribute("class") or "")
    card = page.locator("li.question", has_text=crisis["reference"])
    assert "Crisis" in await card.locator("h2").inner_text()
    call = card.get_by_role("link", name="Bel terug")
    href = await call.get_attribute("href")
    assert href == f"{system.url('intake')}/staff/crisis/{crisis['reference']}"
    box = await call.bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= WIDTH and box["height"] >= 40
    reason = await card.locator("dd.reason").inner_text()
    assert reason.startswith("Crisis: professionele hulp aangeraden")
    other = page.locator("li.question", has_text=plain["reference"])
    assert await other.get_by_role("link", name="Bel terug").count() == 0
    assert "Helmond" in await other.inner_text()
    # Nothing chosen for the team: a group and a reason are picked, closing asks first.
    assert await card.locator("select[name=group_id]").input_value() == ""
    await card.locator("summary", has_text="Sluiten").click()
    assert await card.locator("select[name=reason]").input_value() == ""
    assert await card.get_by_role("button", name="Ja, sluiten").is_visible()
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= WIDTH, f"triage is {width}px wide at {WIDTH}px"
    assert await serious_axe_violations(page, axe_source) == []
    await card.scroll_into_view_if_needed()
    await page.screenshot(path=str(ARTIFACTS / "triage-crisis-360.png"), full_page=True)
    assert errors == [], errors
    await ctx.close()

    ctx, page, errors = await sign_in_at(
        browser, system, system.url("routing") + "/triage", "teamlid", width=1280
    )
    assert "crisis" in (await page.locator("li.question").first.get_attribute("class") or "")
    assert await serious_axe_violations(page, axe_source) == []
    await page.screenshot(path=str(ARTIFACTS / "triage-crisis-desktop.png"), full_page=True)
    assert errors == [], errors
    await ctx.close()
