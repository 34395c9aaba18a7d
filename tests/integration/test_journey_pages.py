"""Every outcome page for every case and language (web and phone, nl and en, crisis or not), and
the sentences that must and must not appear on each: no page promises what does not happen."""

from __future__ import annotations

import random
import re
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from opendeur.db import make_engine, sessionmaker
from tests.support import LINK, System, csrf, new_volunteer

CRISIS_STORY = "Ik zie het niet meer zitten, ik wil dood."
WEEKDAY = {
    "nl": r"uiterlijk (maandag|dinsdag|woensdag|donderdag|vrijdag|zaterdag|zondag) \d{1,2} "
    r"[a-z]+, \d{1,2}\.\d\d uur",
    "en": r"by (Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day \d{1,2} [A-Z][a-z]+, "
    r"(\d{1,2}(:\d\d)? [ap]m|12 noon|midnight)",
}
# What a help-seeker is told of a normal question's deadline (timefmt.promise): the exact moment
# by day, the evening before a deadline at night (the suite may run at any hour).
PROMISE = {
    "nl": r"uiterlijk (maandag|dinsdag|woensdag|donderdag|vrijdag|zaterdag|zondag)"
    r"( \d{1,2} [a-z]+, \d{1,2}\.\d\d uur|avond \d{1,2} [a-z]+)",
    "en": r"by (Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day( \d{1,2} [A-Z][a-z]+, "
    r"(\d{1,2}(:\d\d)? [ap]m|12 noon|midnight)| evening, \d{1,2} [A-Z][a-z]+)",
}
# Sentences per case: (must appear, must not appear), on the page's main part.
WEB = {
    ("nl", False): (
        [
            "Dank je wel. Je vraag is ontvangen.",
            "Een contactpersoon van een zelfhulpgroep belt je, uiterlijk",
            "neemt het netwerkteam je vraag over",
            "Vraag intrekken",
        ],
        ["Lees dit eerst", "vóór", "Engels", "Ctrl+P", "kijkt vandaag nog"],
    ),
    ("nl", True): (
        [
            "Lees dit eerst",
            "Iemand van het netwerkteam belt je, uiterlijk",
            "niet van een groep",
            'href="tel:113"',
            'href="tel:08000113"',
            'href="tel:112"',
            "huisarts",
            "Vraag intrekken",
        ],
        ["contactpersoon", "24 uur", "vóór", "kijkt vandaag nog"],
    ),
    ("en", False): (
        [
            "Your question has arrived",
            "A contact person of a self-help group will call you, by",
            "We look for a contact person who speaks English",
            "a Dutch-speaking contact person calls you",
            "Withdraw my question",
        ],
        ["Please read this first", "before", "within 24 hours", "probably call you in Dutch"],
    ),
    ("en", True): (
        [
            "Please read this first",
            "Someone from the network team will call you, by",
            "not from a group",
            "The network team knows you prefer English",
            'href="tel:113"',
            'href="tel:112"',
            "GP",
        ],
        ["contact person will call", "24 hours", "looks at your question today"],
    ),
}
PHONE = {
    ("nl", False): (
        [
            "De vraag is ingevoerd.",
            "Een contactpersoon van een zelfhulpgroep belt je, uiterlijk",
            "Bel ons dan opnieuw en noem je kenmerk",
        ],
        ["Lees dit nu voor", "link", "Je schreef", "Engels spreekt"],
    ),
    ("nl", True): (
        [
            "Lees dit nu voor",
            "Je vertelde iets waar ik me zorgen over maak",
            "nul acht honderd, nul één één drie",
            "Niet een groep, maar iemand van het netwerkteam belt je terug, uiterlijk",
            "Bel ons dan opnieuw en noem je kenmerk",
        ],
        ["contactpersoon", "link", "Je schreef", "kijkt vandaag nog"],
    ),
    ("en", False): (
        [
            "A contact person of a self-help group will call you, by",
            "We look for a contact person who speaks English",
            "Call us again and give your reference",
        ],
        ["Lees dit nu voor", "link", "You wrote", "probably call you in Dutch"],
    ),
    ("en", True): (
        [
            "Lees dit nu voor",
            "You told me something I am worried about",
            "Not a group, but someone from the network team will call you back, by",
            "Call us again and give your reference",
        ],
        ["contact person of a self-help group will call", "link", "You wrote"],
    ),
}


def client(system: System) -> httpx.AsyncClient:
    address = f"198.18.{random.randint(0, 255)}.{random.randint(1, 254)}"
    return httpx.AsyncClient(base_url=system.url("intake"), headers={"X-Forwarded-For": address})


@pytest.fixture(scope="module")
async def sessions(system: System) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(system.pg.url(system.database), pool_size=2, schema="intake")
    yield sessionmaker(engine)
    await engine.dispose()


def main_of(html: str) -> str:
    return html.split('<main id="main">', 1)[1]


def check(main: str, must: list[str], must_not: list[str], case: object) -> None:
    for sentence in must:
        assert sentence in main, (case, sentence)
    for sentence in must_not:
        assert sentence not in main, (case, sentence)


@pytest.mark.parametrize("crisis", [False, True])
@pytest.mark.parametrize("lang", ["nl", "en"])
async def test_web_thank_you_page_tells_the_truth(system: System, lang: str, crisis: bool) -> None:
    data = {
        "for_self": "yes",
        "topic": "angst",
        "story": CRISIS_STORY if crisis else "",
        "phone": "06 12345678",
        "share_with_contact": "yes",
    }
    async with client(system) as c:
        r = await c.post(f"/?lang={lang}", data=data)
        assert r.status_code == 303
        page = await c.get(r.headers["location"])
        again = await c.get(r.headers["location"])
    assert f'<html lang="{lang}">' in page.text
    main = main_of(page.text)
    must, must_not = WEB[(lang, crisis)]
    check(main, must, must_not, ("web", lang, crisis))
    if not crisis:
        assert re.search(PROMISE[lang], main), main
    assert main.count("<h1") == 1
    # The reload: the same heading, and nothing to act on a second time.
    again_main = main_of(again.text)
    assert "ontvangen" in again_main or "arrived" in again_main
    assert "/intrekken/" not in again_main and 'class="ref"' not in again_main
    assert 'id="quick-exit"' in page.text and 'id="quick-exit"' in again.text


@pytest.mark.parametrize("lang", ["nl", "en"])
async def test_someone_else_page_has_no_placeholder_and_a_path_for_the_asker(
    system: System, lang: str
) -> None:
    async with client(system) as c:
        page = await c.get(f"/voor-iemand-anders?lang={lang}")
        form = await c.get(f"/?lang={lang}")
    main = main_of(page.text)
    assert ("Je vraagt voor iemand anders" if lang == "nl" else "asking for someone else") in main
    assert "mantelzorg" in main and 'id="share-url"' in main
    # The test system has no OPENDEUR_NETWORK_PHONE/EMAIL: no number, no contact section.
    assert 'id="contact-title"' not in main and "000 0000" not in main
    # The form asks first, before anything else, and points here.
    form_main = main_of(form.text)
    assert form_main.index('name="for_self"') < form_main.index('id="topic"')
    assert f'href="/voor-iemand-anders?lang={lang}"' in form_main


@pytest.mark.parametrize("crisis", [False, True])
@pytest.mark.parametrize("person", ["nl", "en"])
async def test_phone_console_outcome_is_worded_for_speech(
    system: System, sessions: async_sessionmaker[AsyncSession], person: str, crisis: bool
) -> None:
    async with client(system) as c:
        await new_volunteer(c, sessions)
        console = await c.get("/phone")
        assert console.status_code == 200
        script = main_of(console.text)
        # During the call: the volunteer's voice, crisis guidance for speech, no link promised,
        # withdrawing by phone with the reference.
        assert "Lees voor aan de beller" in script and "Zeg daarna" in script
        assert "Ik schrijf je telefoonnummer op" in script and "Ik geef toestemming" not in script
        assert "geen link" in script and "noem je kenmerk" in script
        assert "nul acht honderd, nul één één drie" in script and "huisarts" in script
        assert re.search("iemand van het netwerkteam belt je terug, " + WEEKDAY["nl"], script)
        before = await count(sessions)
        form = {
            "csrf": csrf(console.text),
            "submission": re.search(r'name="submission" value="([^"]+)"', console.text).group(1),
            "language": person,
            "consent_read": "yes",
            "share_with_contact": "yes",
            "for_self": "yes",
            "topic": "angst",
            "story": CRISIS_STORY if crisis else "",
            "phone": "06 12345678",
        }
        r = await c.post("/phone", data=form)
        # Post/Redirect/Get: the POST answers with a redirect to the page read aloud.
        assert r.status_code == 303 and r.headers["location"].startswith("/phone/klaar"), r.text
        page = await c.get(r.headers["location"])
        assert page.status_code == 200
        ref = re.search(r"OD-[A-Z0-9]{4}-[A-Z0-9]{4}", page.text).group(0)
        # A reload shows the same reference again (the caller may still be writing it down).
        assert ref in (await c.get("/phone/klaar")).text
        # Back and send again, or a double tap: no second question.
        again = await c.post("/phone", data=form)
        assert again.status_code == 303 and again.headers["location"].startswith("/phone/klaar")
        assert await count(sessions) == before + 1
        # The next call's console clears it: nothing of the last caller is shown any more.
        await c.get("/phone")
        gone = main_of((await c.get("/phone/klaar")).text)
        assert ref not in gone and "Het kenmerk is al getoond" in gone
    main = main_of(page.text)
    must, must_not = PHONE[(person, crisis)]
    check(main, must, must_not, ("phone", person, crisis))
    assert 'class="ref readout"' in main and ref in main
    assert re.search((WEEKDAY if crisis else PROMISE)[person], main), main
    assert 'id="quick-exit"' not in page.text  # a volunteer's page


async def count(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as session:
        return int((await session.execute(text("SELECT count(*) FROM intake.questions"))).scalar())


async def test_callback_page_deadline_in_words(system: System) -> None:
    async with client(system) as c:
        r = await c.post(
            "/api/v1/questions",
            json={
                "channel": "web",
                "for_self": True,
                "topic": "angst",
                "phone": "06 12345678",
                "postcode": "5611",
                "consent": {"share_with_contact": True},
            },
        )
        assert r.status_code == 202, r.text
        ref = r.json()["reference"]
        mail = await system.wait_mail(lambda m: ref in m.subject)
        page = await c.get(LINK.search(mail.text).group(1))
    main = main_of(page.text)
    assert re.search("bel " + WEEKDAY["nl"], main), main
    assert 'id="quick-exit"' not in page.text


async def test_callback_page_is_in_the_contacts_language_and_shows_the_preference(
    system: System,
) -> None:
    async with client(system) as c:
        r = await c.post(
            "/api/v1/questions",
            json={
                "channel": "web",
                "for_self": True,
                "topic": "angst",
                "phone": "06 12345678",
                "language": "en",
                "consent": {"share_with_contact": True},
            },
        )
        assert r.status_code == 202, r.text
        ref = r.json()["reference"]
        mail = await system.wait_mail(lambda m: ref in m.subject)
        link = LINK.search(mail.text).group(1)
        page = await c.get(link)
        assert page.status_code == 200, page.text
        # The contact's language (her mail's link carries it; this contact reads Dutch), not
        # the help-seeker's English.
        assert '<html lang="nl">' in page.text
        main = main_of(page.text)
        assert "spreekt liever Engels" in main and "Bel deze persoon terug" in main
        english = await c.get(link + "?lang=en")  # an English-speaking contact's link
        assert "prefers English" in main_of(english.text)
        assert "Please call back" in main_of(english.text)


async def test_switching_language_keeps_what_was_typed_and_stores_nothing(
    system: System, sessions: async_sessionmaker[AsyncSession]
) -> None:
    before = await count(sessions)
    async with client(system) as c:
        form = await c.get("/")
        sid = re.search(r'name="submission" value="([^"]+)"', form.text).group(1)
        assert 'id="lang-switch"' in form.text and 'data-action="/?lang=en"' in form.text
        typed = {
            "submission": sid,
            "switch": "1",
            "for_self": "yes",
            "topic": "rouw",
            "story": "Mijn moeder is overleden & ik <mis> haar.",
            "phone": "06 12345678",
            "call_times": "na vijven",
            "share_with_contact": "yes",
        }
        r = await c.post("/?lang=en", data=typed)
        assert r.status_code == 200 and '<html lang="en">' in r.text
        assert r.headers["cache-control"].startswith("no-store")
        main = main_of(r.text)
        assert "Ask a self-help group your question" in main and 'id="errors"' not in main
        assert "Mijn moeder is overleden &amp; ik &lt;mis&gt; haar.</textarea>" in main
        assert 'value="06 12345678"' in main and 'value="na vijven"' in main
        assert '<option value="rouw" selected>Grief and loss</option>' in main
        assert f'name="submission" value="{sid}"' in main  # still the one form
        assert 'name="switch" id="switch" value=""' in main
        assert re.search(r'name="share_with_contact"[^>]*checked', main)
    assert await count(sessions) == before
