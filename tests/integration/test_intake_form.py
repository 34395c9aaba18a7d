"""The web form, thank-you, withdrawal, referral card and callback page, through HTTP."""

from __future__ import annotations

import asyncio
import random
import re
import uuid

import httpx
from sqlalchemy import text

from opendeur.db import make_engine
from opendeur.keys import pseudonym
from opendeur.settings import Settings
from tests.support import ADMIN, LINK, SECRET, System, question


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


async def submit(c: httpx.AsyncClient, data: dict[str, str], lang: str = "nl") -> httpx.Response:
    """Post the form as a browser does: a 303 to the thank-you page, then that page."""
    r = await c.post("/" + ("?lang=en" if lang == "en" else ""), data=data)
    assert r.status_code == 303, r.text
    assert r.headers["location"] == f"/bedankt?lang={lang}"
    return await c.get(r.headers["location"])


async def question_count(system: System) -> int:
    engine = make_engine(system.pg.url(system.database), pool_size=1, schema="intake")
    try:
        async with engine.connect() as conn:
            return int((await conn.execute(text("SELECT count(*) FROM intake.questions"))).scalar())
    finally:
        await engine.dispose()


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
    # A shared device: the browser neither suggests nor restores the number.
    assert 'id="phone" autocomplete="off"' in r.text
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
        r = await submit(c, form(), "en")
        assert r.status_code == 200, r.text
        assert "Your question has arrived" in r.text
        assert "Please read this first" not in r.text
        ref = re.search(r'<strong class="ref">(OD-[A-Z0-9-]+)</strong>', r.text).group(1)
        withdraw = re.search(r'href="(/intrekken/[^"]+)"', r.text).group(1).replace("&amp;", "&")
        assert "lang=en" in withdraw
        page = await c.get(withdraw)
        assert page.status_code == 200 and "Withdraw my question" in page.text
        action = re.search(r'action="([^"]+)"', page.text).group(1).replace("&amp;", "&")
        done = await c.post(action)  # Post/Redirect/Get: a reload erases nothing more
        assert done.status_code == 303 and done.headers["location"] == "/ingetrokken?lang=en"
        done = await c.get(done.headers["location"])
        assert done.status_code == 200 and "withdrawn" in done.text
        again = await c.post(action)
        assert again.status_code == 404
    assert ref


async def test_crisis_words_put_the_advice_first(system: System) -> None:
    async with client(system) as c:
        r = await submit(c, form(story="Ik wil dood, ik zie het niet meer zitten."))
    assert r.status_code == 200, r.text
    main = r.text.split('<main id="main">')[1]
    assert main.index("Lees dit eerst") < main.index("Je vraag is ontvangen")
    for number in ("tel:113", "tel:08000113", "tel:112"):
        assert f'href="{number}"' in main
    assert main.count("<h1") == 1
    # What really happens: the team calls by the crisis deadline; no contact person promised.
    assert "Iemand van het netwerkteam belt je, uiterlijk" in main
    assert "contactpersoon" not in main.lower() and "24 uur" not in main


async def test_someone_else_is_sent_to_the_referral_card(system: System) -> None:
    async with client(system) as c:
        before = await question_count(system)
        r = await c.post("/?lang=en", data=form(for_self="no", phone=""))
        assert r.status_code == 303
        assert r.headers["location"] == "/voor-iemand-anders?lang=en"
        card = await c.get(r.headers["location"])
        nl = await c.get("/voor-iemand-anders")
        old = await c.get("/verwijzen")
        assert await question_count(system) == before
    assert card.status_code == 200 and "You are asking for someone else" in card.text
    assert f'href="{system.url("intake")}/?lang=en"' in card.text  # the link to share
    assert 'src="/static/share.js"' in card.text
    assert 'href="/?lang=en&amp;topic=mantelzorg"' in card.text  # their own situation
    assert "Je vraagt voor iemand anders" in nl.text and "mantelzorgers" in nl.text
    assert old.status_code == 200 and "Je vraagt voor iemand anders" in old.text
    for page in (card.text, nl.text):
        # No placeholder number and no print card: the test system sets no network phone.
        assert "040 000 0000" not in page and "Ctrl+P" not in page
        assert re.findall(r'href="tel:([0-9+]+)"', page) == ["08000113", "112"]  # banner only


async def test_honeypot_pretends_and_stores_nothing(system: System) -> None:
    canary = f"kanarie-{uuid.uuid4().hex}"
    async with client(system) as c:
        r = await submit(c, form(story=canary, website="http://spam.example"))
    assert r.status_code == 200 and "Je vraag is ontvangen" in r.text
    assert canary not in system.pg.dump(system.database)


async def test_pages_have_no_inline_script_or_style(system: System) -> None:
    async with client(system) as c:
        for path in ("/", "/?lang=en", "/voor-iemand-anders", "/bedankt", "/staff/login"):
            r = await c.get(path)
            assert r.status_code == 200, path
            # Scripts only from files (the CSP forbids inline ones): every tag has a src.
            assert re.findall(r"<script(?![^>]*\bsrc=\"/static/[a-z]+\.js\")", r.text) == []
            assert "style=" not in r.text and "<style" not in r.text
            assert "script-src 'self'" in r.headers["content-security-policy"]
            assert r.headers["cache-control"] == "no-store"


async def test_form_path_canary_is_only_on_the_callback_page(system: System) -> None:
    canary = f"kanarie-{uuid.uuid4().hex}"
    digits = f"6{random.randint(1, 5)}{random.randint(1_000_000, 9_999_999)}"
    call_times = f"na zessen {canary[-6:]}"
    pages: list[str] = []
    async with client(system) as c:
        pages.append((await c.get("/")).text)
        r = await submit(
            c,
            form(
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
        assert (await c.post(action)).status_code == 303  # then /ingetrokken
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


async def test_reload_and_resubmit_add_no_second_question(system: System) -> None:
    digits = f"6{random.randint(1, 5)}{random.randint(1_000_000, 9_999_999)}"
    async with client(system) as c:
        page = await c.get("/")
        assert page.headers["cache-control"] == "no-store"
        sid = re.search(r'name="submission" value="([^"]+)"', page.text).group(1)
        data = form(phone="0" + digits, submission=sid)
        before = await question_count(system)
        r = await c.post("/", data=data)
        # Post/Redirect/Get: the answer to the POST is a redirect to an address with nothing in it.
        assert r.status_code == 303 and r.headers["location"] == "/bedankt?lang=nl"
        assert r.headers["cache-control"] == "no-store"
        cookie = r.headers["set-cookie"]
        assert "httponly" in cookie.lower() and "path=/bedankt" in cookie.lower()
        assert "samesite=strict" in cookie.lower() and digits not in cookie
        thanks = await c.get("/bedankt?lang=nl")
        assert thanks.headers["cache-control"] == "no-store"
        ref = re.search(r'<strong class="ref">(OD-[A-Z0-9-]+)</strong>', thanks.text).group(1)
        assert "uiterlijk " in thanks.text and "/intrekken/" in thanks.text
        assert "max-age=0" in thanks.headers["set-cookie"].lower()  # shown once, then gone

        reload = await c.get("/bedankt?lang=nl")  # F5 on the thank-you page
        assert reload.status_code == 200 and "Je vraag is ontvangen" in reload.text
        assert ref not in reload.text and "/intrekken/" not in reload.text
        again = await c.post("/", data=data)  # Back and "resubmit", or a double tap
        assert again.status_code == 303
        assert ref not in (await c.get(again.headers["location"])).text
        # A copy of the cookie (from the browser's profile on disk) replayed later, as it is
        # or altered, shows nothing either: the page was shown once.
        value = re.search(r"od_thanks=([^;]+)", cookie).group(1)
        for replay in (value, value[:-2] + ("AA" if value[-2:] != "AA" else "BB")):
            async with client(system) as other:
                other.cookies.set("od_thanks", replay, path="/bedankt")
                stolen = await other.get("/bedankt")
                assert stolen.status_code == 200 and ref not in stolen.text
    assert await question_count(system) == before + 1
    for html in (thanks.text, reload.text):
        assert digits not in html.replace(" ", "")


async def test_callback_page_is_in_the_contacts_language_not_the_askers(system: System) -> None:
    bram = "bram.angst@example.org"
    cid = pseudonym(Settings(secret_key=SECRET), "contact", bram)
    contact = system.url("notify") + f"/api/v1/contacts/{cid}"
    staff = {"Authorization": f"Bearer {ADMIN}"}
    body = {"email": bram, "channel": "email", "language": "en"}
    async with client(system) as c:
        assert (await c.put(contact, json=body, headers=staff)).status_code == 200
        try:
            r = await c.post("/api/v1/questions", json=question(topic="angst", language="nl"))
            assert r.status_code == 202, r.text
            ref = r.json()["reference"]
            mail = await system.wait_mail(lambda m: ref in m.subject)
        finally:
            body["language"] = "nl"
            assert (await c.put(contact, json=body, headers=staff)).status_code == 200
        link = re.search(LINK.pattern + r"\?lang=en", mail.text)
        assert link, mail.text
        page = await c.get(link.group(0))
        assert page.status_code == 200
        # A Dutch question, an English-speaking contact: the page speaks the contact's language.
        assert '<html lang="en">' in page.text and "Please call back" in page.text
        assert "Bel deze persoon terug" not in page.text
        done = await c.post(link.group(0), data={"outcome": "reached"})
        assert '<html lang="en">' in done.text
