"""The web form, thank-you, withdrawal, referral card and callback page, through HTTP."""

from __future__ import annotations

import asyncio
import random
import re
import uuid

import httpx

from tests.support import LINK, System, question


def client(system: System) -> httpx.AsyncClient:
    address = f"203.0.{random.randint(0, 255)}.{random.randint(1, 254)}"
    return httpx.AsyncClient(base_url=system.url("intake"), headers={"X-Forwarded-For": address})


def form(**overrides: str) -> dict[str, str]:
    data = {
        "for_self": "yes",
        "topic": "angst",
        "story": "",
        "phone": "06 12345678",
        "call_times": "",
        "postcode": "5611",
        "share_with_contact": "yes",
        "statistics": "yes",
        "website": "",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def field_errors(html: str) -> dict[str, str]:
    return dict(re.findall(r'<p class="field-error" id="([a-z_]+)-error">([^<]+)</p>', html))


async def test_every_field_error_is_shown_inline_and_summarised(system: System) -> None:
    async with client(system) as c:
        r = await c.post(
            "/",
            data=form(
                phone="12",
                postcode="abc",
                story="x" * 4001,
                call_times="y" * 201,
                topic="no-such-topic",
                share_with_contact=None,
            ),
        )
    assert r.status_code == 422
    errors = field_errors(r.text)
    assert set(errors) == {"topic", "story", "phone", "call_times", "postcode", "consent"}
    summary = r.text.split('id="errors"')[1].split("</div>")[0]
    links = re.findall(r'<a href="#([a-z_]+)">', summary)
    assert links == ["topic", "story", "phone", "call_times", "postcode", "consent"]
    for field in links:  # every summary link points at a real control
        assert f'id="{field}"' in r.text
        assert 'aria-describedby="' in r.text
    assert 'id="phone" autocomplete="tel"' in r.text
    assert re.search(r'id="phone"[^>]*aria-invalid="true"', r.text)
    assert "<title>Er ging iets mis" in r.text
    # What was typed is kept so nothing has to be typed again (but never in an error message).
    assert 'value="12"' in r.text and "x" * 4001 in r.text


async def test_the_form_and_its_errors_in_english(system: System) -> None:
    async with client(system) as c:
        page = await c.get("/?lang=en")
        assert page.status_code == 200 and '<html lang="en">' in page.text
        assert "Ask a self-help group your question" in page.text
        assert "Please check these" not in page.text
        r = await c.post("/?lang=en", data=form(phone="", share_with_contact=None))
    assert r.status_code == 422 and '<html lang="en">' in r.text
    errors = field_errors(r.text)
    assert set(errors) == {"phone", "consent"}
    assert errors["phone"].startswith("Enter a valid phone number")
    assert "Please check these 2 fields" in r.text


async def test_thank_you_page_and_withdraw_link(system: System) -> None:
    async with client(system) as c:
        r = await c.post("/?lang=en", data=form())
        assert r.status_code == 200, r.text
        assert "Your question has arrived" in r.text
        assert "Please read this first" not in r.text
        ref = re.search(r'<strong class="ref">(OD-[A-Z0-9-]+)</strong>', r.text).group(1)
        withdraw = re.search(r'href="(/intrekken/[^"]+)"', r.text).group(1).replace("&amp;", "&")
        assert "lang=en" in withdraw
        page = await c.get(withdraw)
        assert page.status_code == 200 and "Withdraw my question" in page.text
        action = re.search(r'action="([^"]+)"', page.text).group(1).replace("&amp;", "&")
        done = await c.post(action)
        assert done.status_code == 200 and "withdrawn" in done.text
        again = await c.post(action)
        assert again.status_code == 404
    assert ref


async def test_crisis_words_put_the_advice_first(system: System) -> None:
    async with client(system) as c:
        r = await c.post("/", data=form(story="Ik wil dood, ik zie het niet meer zitten."))
    assert r.status_code == 200, r.text
    main = r.text.split('<main id="main">')[1]
    assert main.index("Lees dit eerst") < main.index("Je vraag is ontvangen")
    assert "0800-0113" in main and 'href="tel:112"' in main
    assert main.count("<h1") == 1


async def test_someone_else_is_sent_to_the_referral_card(system: System) -> None:
    async with client(system) as c:
        r = await c.post("/?lang=en", data=form(for_self="no", phone=""))
        assert r.status_code == 303
        assert r.headers["location"] == "/verwijzen?lang=en"
        card = await c.get(r.headers["location"])
        nl = await c.get("/verwijzen")
    assert card.status_code == 200 and "Contact a self-help group yourself" in card.text
    assert "040 000 0000" in card.text and 'href="tel:0400000000"' in card.text
    assert system.url("intake") + "/?lang=en" in card.text
    assert "040 000 0000" in nl.text and "Zelf contact zoeken" in nl.text
    css = httpx.get(system.url("intake") + "/static/site.css").text
    assert "@media print" in css


async def test_honeypot_pretends_and_stores_nothing(system: System) -> None:
    canary = f"kanarie-{uuid.uuid4().hex}"
    async with client(system) as c:
        r = await c.post("/", data=form(story=canary, website="http://spam.example"))
    assert r.status_code == 200 and "Je vraag is ontvangen" in r.text
    assert canary not in system.pg.dump(system.database)


async def test_pages_have_no_inline_script_or_style(system: System) -> None:
    async with client(system) as c:
        for path in ("/", "/?lang=en", "/verwijzen", "/phone/login"):
            r = await c.get(path)
            assert r.status_code == 200, path
            assert "<script" not in r.text and "style=" not in r.text and "<style" not in r.text
            assert "script-src 'self'" in r.headers["content-security-policy"]
            assert r.headers["cache-control"] == "no-store"


async def test_form_path_canary_is_only_on_the_callback_page(system: System) -> None:
    canary = f"kanarie-{uuid.uuid4().hex}"
    digits = f"6{random.randint(1, 5)}{random.randint(1_000_000, 9_999_999)}"
    call_times = f"na zessen {canary[-6:]}"
    pages: list[str] = []
    async with client(system) as c:
        pages.append((await c.get("/")).text)
        r = await c.post(
            "/",
            data=form(
                phone="0" + digits,
                story=f"Mijn moeder is overleden. {canary}",
                call_times=call_times,
            ),
        )
        assert r.status_code == 200, r.text
        pages.append(r.text)
        ref = re.search(r'<strong class="ref">(OD-[A-Z0-9-]+)</strong>', r.text).group(1)
        withdraw = re.search(r'href="(/intrekken/[^"]+)"', r.text).group(1).replace("&amp;", "&")
        pages.append((await c.get(withdraw)).text)
        pages.append((await c.get("/verwijzen")).text)

        mail = await system.wait_mail(lambda m: ref in m.subject)
        link = LINK.search(mail.text).group(1)
        callback = await c.get(link)
        assert callback.status_code == 200
        assert canary in callback.text and digits in callback.text.replace(" ", "")
        assert call_times in callback.text
        assert "Luister eerst" in callback.text and "huisarts" in callback.text
        assert f'href="tel:+31{digits}"' in callback.text

        # One character changed in the signed link: refused, and nothing shown.
        token = link.rsplit("/", 1)[1]
        i = len(token) // 2
        tampered = (
            link[: -len(token)] + token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1 :]
        )
        bad = await c.get(tampered)
        assert bad.status_code == 410
        assert canary not in bad.text and digits not in bad.text.replace(" ", "")
        pages.append(bad.text)
        bad_post = await c.post(tampered, data={"outcome": "reached"})
        assert bad_post.status_code == 410

        # Withdrawn: the callback page now says the data is erased and shows nothing.
        action = withdraw
        assert (await c.post(action)).status_code == 200
        erased = await c.get(link)
        assert erased.status_code == 410 and "gewist" in erased.text
        assert canary not in erased.text and digits not in erased.text.replace(" ", "")
        pages.append(erased.text)

    for html in pages:
        assert canary not in html and digits not in html.replace(" ", "")
        assert call_times not in html
    await asyncio.sleep(0.5)
    dump = system.pg.dump(system.database)
    assert canary not in dump and digits not in dump
    logs = system.logs()
    assert canary not in logs and digits not in logs
    assert all(
        canary not in m.text and digits not in m.text.replace(" ", "") for m in system.smtp.mails
    )


async def test_callback_page_without_story_and_outcome_buttons(system: System) -> None:
    async with client(system) as c:
        r = await c.post("/api/v1/questions", json=question(topic="angst"))
        assert r.status_code == 202, r.text
        ref = r.json()["reference"]
        mail = await system.wait_mail(lambda m: ref in m.subject)
        link = LINK.search(mail.text).group(1)
        page = await c.get(link)
        assert page.status_code == 200
        assert "Deze persoon schreef geen verhaal" in page.text
        for code in ("reached", "unreachable", "wrong_group", "referred_professional"):
            assert f'name="outcome" value="{code}"' in page.text
        assert "Luister eerst" in page.text and "113" in page.text
        bad = await c.post(link, data={"outcome": "maybe"})
        assert bad.status_code == 422 and "Kies een uitkomst" in bad.text
