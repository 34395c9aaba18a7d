"""One staff workspace in real Chromium at 360 px: every staff page of the four services has the
same header (the network's name and colour, the person's name, the nav her roles allow,
Afmelden), says "je" and never "u", keeps nav links, selects and buttons at least 44 by 44 px,
is axe-core clean; a refused page (403) looks the same. Screenshots under tests/artifacts/."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page

from tests.browser.conftest import ARTIFACTS
from tests.browser.test_staff_browser import (
    WIDTH,
    js_errors,
    no_sideways_scroll,
    serious_axe_violations,
)
from tests.support import System, add_staff

pytestmark = pytest.mark.browser
FORMAL = re.compile(r"\b(u|uw|Uw|U|uzelf)\b")
MIN = 44


async def sign_in(browser: Browser, system: System, start: str, *roles: str):
    """A new account with `roles`, signed in at intake (password chosen), back on `start`."""
    ctx = await browser.new_context(viewport={"width": WIDTH, "height": 800})
    page = await ctx.new_page()
    errors = js_errors(page)
    name, once = add_staff(system, *roles)
    await page.goto(start)
    await page.fill("#name", name)
    await page.fill("#password", once)
    await page.click("button[type=submit]")
    await page.wait_for_url(system.url("intake") + "/staff/password**")
    new = f"lang-genoeg-{uuid.uuid4().hex[:8]}"
    await page.fill("#password", new)
    await page.fill("#password2", new)
    await page.click("button[type=submit]")
    await page.wait_for_url(start + "**")
    return ctx, page, errors, name


async def nav_markup(page: Page) -> str:
    """The header's nav links as markup, without which link is the current page (Afmelden posts
    to each service's own sign-out, so its form is compared by its words only)."""
    html = await page.locator("#staff-header nav.staff-nav ul").evaluate("n => n.outerHTML")
    return html.replace(' aria-current="page"', "")


async def small_targets(page: Page) -> list[str]:
    """Nav links, selects and buttons (visible ones) smaller than 44 by 44 px."""
    boxes = await page.evaluate(
        """() => [...document.querySelectorAll(
              '#staff-header a, nav.staff-nav a, select, .staff-signout button, main button')]
            .filter(e => e.offsetParent !== null)
            .map(e => { const r = e.getBoundingClientRect();
                        return [e.tagName + ' ' + (e.textContent || '').trim().slice(0, 30),
                                r.width, r.height]; })"""
    )
    return [f"{label}: {w:.0f}x{h:.0f}" for label, w, h in boxes if w < MIN or h < MIN]


async def formal_words(page: Page) -> list[str]:
    text = await page.inner_text("body")
    return sorted({m.group(0) for m in FORMAL.finditer(text)})


async def brand(system: System, service: str) -> str:
    """The network's colour as /network.css gives it, as the browser reports a colour."""
    css = httpx.get(system.url(service) + "/network.css").text
    hexa = re.search(r"--brand:\s*#([0-9a-fA-F]{6})", css)
    assert hexa, css
    r, g, b = (int(hexa.group(1)[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgb({r}, {g}, {b})"


async def check_page(page: Page, system: System, service: str, shot: str, axe: str) -> str:
    """What every staff page must show; returns its nav markup to compare across pages."""
    header = page.locator("#staff-header")
    assert await header.count() == 1, page.url
    colour = await header.evaluate("h => getComputedStyle(h).borderBottomColor")
    assert colour == await brand(system, service), (page.url, colour)
    assert await page.locator(".staff-signout button").inner_text() == "Afmelden"
    assert await formal_words(page) == [], page.url
    assert await small_targets(page) == [], page.url
    assert await serious_axe_violations(page, axe) == [], page.url
    await no_sideways_scroll(page)
    await page.screenshot(path=str(ARTIFACTS / f"staff-look-{shot}-360.png"), full_page=True)
    return await nav_markup(page)


async def test_every_staff_page_of_every_service_has_the_one_header(
    system: System, browser: Browser, axe_source: str, tmp_path: Path
) -> None:
    # A group of this test's own, so notify's contacts page has a group to name; on a topic no
    # other test asks about (an online rouw group here drew the shared system's rouw questions
    # away from the groups other tests expect, in a full run).
    slug = f"lookgroep-{uuid.uuid4().hex[:6]}"
    csv = tmp_path / "groups.csv"
    csv.write_text(
        "group_name,topics,municipalities,online,contact_name,contact_email,max_open\n"
        f"{slug.replace('-', ' ').title()},slaapproblemen,,yes,Lotte Look,lotte.{slug}@example.org,2\n"
    )
    assert system.opendeur("groups", "import", str(csv)).returncode == 0
    roles = ("teamlid", "coordinator", "beheerder")
    ctx, page, errors, name = await sign_in(
        browser, system, system.url("intake") + "/staff", *roles
    )
    pages = [
        ("intake", "/staff", "home"),
        ("intake", "/staff/crisis", "crisis"),
        ("intake", "/staff/accounts", "accounts"),
        ("routing", "/triage", "triage"),
        ("notify", "/contacts", "contacts"),
        ("audit", "/", "console"),
        ("audit", "/report", "report"),
    ]
    navs = {}
    for service, path, shot in pages:
        response = await page.goto(system.url(service) + path)
        assert response is not None and response.status == 200, (service, path)
        assert await page.inner_text("#staff-name") == name, (service, path)
        navs[shot] = await check_page(page, system, service, shot, axe_source)
        current = page.locator("nav.staff-nav a[aria-current=page]")
        assert await current.count() == 1, (service, path)
    assert len(set(navs.values())) == 1, navs  # the same nav markup on every page
    labels = await page.locator("nav.staff-nav a").all_inner_texts()
    assert labels == [
        "Overzicht",
        "Triage",
        "Crisis",
        "Contactpersonen",
        "Accounts",
        "Console",
        "Rapport",
    ], labels
    # At desktop width the same header, the same targets, the nav on one line.
    await page.set_viewport_size({"width": 1280, "height": 900})
    for service, path, shot in pages:
        await page.goto(system.url(service) + path)
        assert await nav_markup(page) == navs["home"], (service, path)
        assert await small_targets(page) == [], (service, path)
        tops = await page.locator("nav.staff-nav li").evaluate_all(
            "items => [...new Set(items.map(i => Math.round(i.getBoundingClientRect().top)))]"
        )
        assert len(tops) == 1, (service, path, tops)
        await page.screenshot(path=str(ARTIFACTS / f"staff-look-{shot}-desktop.png"))
    await page.set_viewport_size({"width": WIDTH, "height": 800})
    # The contacts page names the group, never by its code.
    await page.goto(system.url("notify") + "/contacts")
    text = await page.inner_text("main")
    assert slug.replace("-", " ").title() in text and slug not in text
    assert errors == [], errors
    await ctx.close()


async def test_a_refused_page_has_the_same_header_and_names_nothing_else(
    system: System, browser: Browser, axe_source: str
) -> None:
    ctx, page, errors, name = await sign_in(
        browser, system, system.url("routing") + "/triage", "teamlid"
    )
    triage_nav = await nav_markup(page)
    for service, path in (("audit", "/"), ("notify", "/contacts")):
        response = await page.goto(system.url(service) + path)
        assert response is not None and response.status == 403
        assert await page.inner_text("h1") == "Geen toegang"
        assert await page.inner_text("#staff-name") == name
        shot = f"refused-{service}"
        assert await check_page(page, system, service, shot, axe_source) == triage_nav
        main = await page.inner_text("main")
        assert "Console" not in main and "@" not in main  # nothing of the page refused
    labels = await page.locator("nav.staff-nav a").all_inner_texts()
    assert labels == ["Overzicht", "Triage", "Crisis"], labels  # only what her role opens
    assert errors == [], errors
    await ctx.close()
