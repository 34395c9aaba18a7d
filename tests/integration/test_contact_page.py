"""A contact person's own overview page (routing /contact/{token}) on the whole system."""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import re
import time
from collections.abc import AsyncIterator

import httpx

from opendeur import links
from opendeur.keys import pseudonym
from opendeur.settings import Settings
from tests.support import (
    ADMIN,
    ANNA_SHARED_PLACES,
    LINK,
    SECRET,
    System,
    question,
    staff_client,
)

ANNA = "anna.rouw@example.org"
OVERVIEW = re.compile(r"(http://127\.0\.0\.1:\d+/contact/[A-Za-z0-9_.\-]+)")
CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')
PIN = "605318"


def settings() -> Settings:
    return Settings(secret_key=SECRET)


def anna_page(system: System) -> str:
    cid = pseudonym(settings(), "contact", ANNA)
    return system.url("routing") + "/contact/" + links.sign(settings(), "contact", {"c": cid})


async def ask(client: httpx.AsyncClient, system: System, **overrides) -> dict:
    r = await client.post(system.url("intake") + "/api/v1/questions", json=question(**overrides))
    assert r.status_code == 202, r.text
    return r.json()


async def post(client: httpx.AsyncClient, page: str, what: str, data: dict) -> httpx.Response:
    csrf = CSRF.search((await client.get(page)).text)
    assert csrf, "the page has no CSRF token"
    return await client.post(f"{page}/{what}", data={"csrf": csrf.group(1), **data})


@contextlib.asynccontextmanager
async def pin_set(client: httpx.AsyncClient, system: System, contact: str) -> AsyncIterator[None]:
    """The contact sets a PIN on intake's PIN page (the overview links there); this client keeps
    the PIN cookie, so the overview's callback links open. The team resets it afterwards: the
    other tests see the contact without one."""
    cid = pseudonym(settings(), "contact", contact)
    token = links.sign(settings(), "contact", {"c": cid})
    r = await client.post(
        f"{system.url('intake')}/pin/{token}", data={"pin": PIN, "repeat": PIN, "current": PIN}
    )
    assert r.status_code == 200, r.text[:300]
    try:
        yield
    finally:
        done = system.opendeur("contacts", "reset-pin", cid)
        assert done.returncode == 0, done.stderr
        assert "PIN cleared" in done.stdout, done.stdout


def callback_link(html: str, reference: str) -> str:
    found = re.search(r'<a href="([^"]+/c/[^"]+)" class="ref">' + re.escape(reference), html)
    assert found, f"{reference} is not listed with its callback link"
    return found.group(1)


@contextlib.asynccontextmanager
async def anna_has_room(client: httpx.AsyncClient, system: System) -> AsyncIterator[None]:
    """Anna (rouw, Eindhoven: 3 places) with room for this test: on the suite's shared system
    earlier tests may hold her places (seen in a full run: the question went to triage)."""
    assert (
        await post(client, anna_page(system), "capacity", {"max_open": "20"})
    ).status_code == 303
    try:
        yield
    finally:
        await post(client, anna_page(system), "capacity", {"max_open": ANNA_SHARED_PLACES})


async def test_the_mail_links_to_an_overview_that_lists_the_open_callback(system: System) -> None:
    async with httpx.AsyncClient(timeout=10) as client, anna_has_room(client, system):
        q = await ask(client, system)
        mail = await system.wait_mail(lambda m: q["reference"] in m.subject)
        assert mail.to == [ANNA]
        assert "Mijn overzicht" in mail.text
        html = email.message_from_bytes(mail.raw, policy=email.policy.default).get_body(
            preferencelist=("html",)
        )
        assert html is not None and "Mijn overzicht" in html.get_content()
        found = OVERVIEW.search(mail.text)
        assert found, mail.text
        assert found.group(1) in html.get_content()
        page = await client.get(found.group(1))
        assert page.status_code == 200
        assert q["reference"] in page.text
        assert page.headers["cache-control"] == "no-store"
        link = callback_link(page.text, q["reference"])
        assert link.startswith(system.url("intake") + "/c/")
        # Without a PIN the overview's link opens nothing: it says to use the mail's link.
        refused = await client.get(link)
        assert refused.status_code == 403 and q["reference"] not in refused.text
        assert "link in de mail" in refused.text and "/pin/" in refused.text
        async with pin_set(client, system, ANNA):
            callback = await client.get(link)
            assert callback.status_code == 200 and q["reference"] in callback.text
            assert (await client.post(link, data={"outcome": "reached"})).status_code < 400
        deadline = time.monotonic() + 30
        while q["reference"] in (await client.get(found.group(1))).text:
            assert time.monotonic() < deadline, "a finished callback stays on the overview"
            await asyncio.sleep(0.2)


async def test_lowering_capacity_to_the_open_count_stops_new_questions(system: System) -> None:
    page = anna_page(system)
    async with httpx.AsyncClient(timeout=10) as client:
        try:
            assert (await post(client, page, "capacity", {"max_open": "20"})).status_code == 303
            first = await ask(client, system)
            await system.wait_audit(first["question_id"], ["question.routed.v1"])
            html = (await client.get(page)).text
            link = callback_link(html, first["reference"])
            count = re.search(r'id="open-count">(\d+)<', html)
            assert count and int(count.group(1)) >= 1
            lowered = await post(client, page, "capacity", {"max_open": count.group(1)})
            assert lowered.status_code == 303
            assert f'value="{count.group(1)}"' in (await client.get(page)).text
            second = await ask(client, system)
            events = await system.wait_audit(second["question_id"], ["question.unmatched.v1"])
            unmatched = next(e for e in events if e["type"] == "question.unmatched.v1")
            assert unmatched["reason"] == "all_full"
            assert "question.routed.v1" not in [e["type"] for e in events]
        finally:
            await post(client, page, "capacity", {"max_open": ANNA_SHARED_PLACES})
        async with pin_set(client, system, ANNA):
            assert (await client.post(link, data={"outcome": "reached"})).status_code < 400


async def test_capacity_outside_0_to_20_is_refused_with_a_readable_message(
    system: System,
) -> None:
    page = anna_page(system)
    async with httpx.AsyncClient(timeout=10) as client:
        for bad in ("-1", "21", "veel", ""):
            r = await post(client, page, "capacity", {"max_open": bad})
            assert r.status_code == 422, bad
            assert "0 tot en met 20" in r.text and 'aria-invalid="true"' in r.text
        try:
            assert (await post(client, page, "capacity", {"max_open": "0"})).status_code == 303
            assert (await post(client, page, "capacity", {"max_open": "20"})).status_code == 303
        finally:
            assert (
                await post(client, page, "capacity", {"max_open": ANNA_SHARED_PLACES})
            ).status_code == 303


async def test_a_tampered_or_foreign_token_and_a_missing_csrf_are_refused(system: System) -> None:
    page = anna_page(system)
    token = page.rsplit("/", 1)[1]
    cid = pseudonym(settings(), "contact", ANNA)
    tampered = page[:-3] + ("AAA" if not page.endswith("AAA") else "BBB")
    other_purpose = (
        system.url("routing")
        + "/contact/"
        + links.sign(
            settings(), "callback", {"q": "00000000-0000-0000-0000-000000000000", "c": cid}
        )
    )
    async with httpx.AsyncClient(timeout=10) as client:
        assert (await client.get(page)).status_code == 200
        for bad in (tampered, other_purpose):
            r = await client.get(bad)
            assert r.status_code == 403 and "werkt niet" in r.text
            assert (await client.post(bad + "/capacity", data={"max_open": "5"})).status_code == 403
        r = await client.post(f"{page}/capacity", data={"max_open": "5", "csrf": "0" * 64})
        assert r.status_code == 403
        assert 'value="5"' not in (await client.get(page)).text
        assert token in page


async def test_call_hours_are_saved_and_a_half_filled_day_is_explained(system: System) -> None:
    page = anna_page(system)
    async with httpx.AsyncClient(timeout=10) as client:
        try:
            r = await post(client, page, "hours", {"start_0": "18:00", "end_0": "21:00"})
            assert r.status_code == 303
            html = (await client.get(page)).text
            assert 'id="start_0" name="start_0" value="18:00"' in html
            assert 'id="end_0" name="end_0" value="21:00"' in html
            r = await post(client, page, "hours", {"start_2": "19:00", "end_2": ""})
            assert r.status_code == 422 and "woensdag" in r.text
            r = await post(client, page, "hours", {"start_3": "21:00", "end_3": "18:00"})
            assert r.status_code == 422 and "later" in r.text
        finally:
            assert (await post(client, page, "hours", {})).status_code == 303
        assert 'name="start_0" value=""' in (await client.get(page)).text


async def test_the_contact_pauses_and_resumes_their_group(system: System) -> None:
    page = anna_page(system)
    async with httpx.AsyncClient(timeout=10) as client:
        try:
            assert (await post(client, page, "group", {"action": "pause"})).status_code == 303
            assert "gepauzeerd" in (await client.get(page)).text
            again = await post(client, page, "group", {"action": "pause"})
            assert again.status_code == 422
        finally:
            assert (await post(client, page, "group", {"action": "resume"})).status_code == 303
        assert "actief" in (await client.get(page)).text


BRAM = "bram.angst@example.org"
EN_OVERVIEW = re.compile(r"(http://127\.0\.0\.1:\d+/contact/[A-Za-z0-9_.\-]+\?lang=en)\s")
EN_PAUSE = re.compile(r"(http://127\.0\.0\.1:\d+/groups/self/[A-Za-z0-9_.\-]+\?lang=en)\s")


def test_the_catalogue_has_every_text_in_both_languages() -> None:
    from services.routing.web import i18n

    assert i18n.missing() == {}
    assert i18n.pick("EN") == "en" and i18n.pick("de", None) == "nl"


async def test_an_english_contact_sees_their_pages_in_english_and_can_switch(
    system: System,
) -> None:
    cid = pseudonym(settings(), "contact", BRAM)
    contact = system.url("notify") + f"/api/v1/contacts/{cid}"
    staff = {"Authorization": f"Bearer {ADMIN}"}
    async with httpx.AsyncClient(timeout=10) as client:
        body = {"email": BRAM, "channel": "email", "language": "en"}
        assert (await client.put(contact, json=body, headers=staff)).status_code == 200
        try:
            q = await ask(client, system, topic="angst")
            mail = await system.wait_mail(lambda m: q["reference"] in m.subject)
            assert mail.to == [BRAM] and "My overview" in mail.text
            found, pause = EN_OVERVIEW.search(mail.text + "\n"), EN_PAUSE.search(mail.text + "\n")
            assert found and pause, mail.text
            page = await client.get(found.group(1))
            assert page.status_code == 200
            html = page.text
            assert '<html lang="en">' in html
            assert "<h1>My overview</h1>" in html and "People waiting for your call" in html
            assert q["reference"] in html and "Call back: by " in html
            assert "Monday" in html and "Number (0 to 20)" in html
            for dutch in (
                "Mijn overzicht",
                "Terugbellen",
                "uiterlijk",
                "maandag",
                "Aantal opslaan",
            ):
                assert dutch not in html
            # The switch to Dutch, and back.
            switch = re.search(r'<a href="([^"]+)" lang="nl" hreflang="nl" id="lang-switch">', html)
            assert switch, html
            nl = await client.get(system.url("routing") + switch.group(1).replace("&amp;", "&"))
            assert "<h1>Mijn overzicht</h1>" in nl.text and '<html lang="nl">' in nl.text
            assert 'id="lang-switch">English</a>' in nl.text
            # Forms answer in English: errors, and the confirmation after the redirect.
            page_url = found.group(1).split("?")[0]
            csrf = CSRF.search(html)
            assert csrf
            bad = await client.post(
                f"{page_url}/capacity?lang=en", data={"csrf": csrf.group(1), "max_open": "99"}
            )
            assert bad.status_code == 422 and "Choose a number from 0 to 20." in bad.text
            bad = await client.post(
                f"{page_url}/hours?lang=en",
                data={"csrf": csrf.group(1), "start_2": "19:00", "end_2": ""},
            )
            assert bad.status_code == 422 and "Fill in both times for Wednesday" in bad.text
            saved = await client.post(  # no hours: any time (as imported), saved again
                f"{page_url}/hours?lang=en", data={"csrf": csrf.group(1)}, follow_redirects=True
            )
            assert saved.status_code == 200 and "Your call hours have been saved." in saved.text
            # A dead link explains itself in the language asked for.
            dead = await client.get(page_url[:-3] + "AAA?lang=en")
            assert dead.status_code == 403 and "This link does not work" in dead.text
            # The group's pause page from the same mail.
            group = await client.get(pause.group(1))
            assert group.status_code == 200 and '<html lang="en">' in group.text
            assert "This link is personal" in group.text and ">Pause</button>" in group.text
            callback = callback_link(html, q["reference"])
            async with pin_set(client, system, BRAM):
                done = await client.post(callback, data={"outcome": "reached"})
                assert done.status_code < 400
        finally:
            body["language"] = "nl"
            assert (await client.put(contact, json=body, headers=staff)).status_code == 200


async def test_leaving_the_network_asks_first_and_says_how_to_come_back(
    system: System, tmp_path
) -> None:
    # A group of its own, so leaving changes nothing for the other tests.
    vera = "vera.vertrek@example.org"
    csv = tmp_path / "groups.csv"
    csv.write_text(
        "group_name,topics,municipalities,online,contact_name,contact_email,max_open\n"
        f"Vertrekgroep Test,kanker,,yes,Vera Vertrek,{vera},2\n"
    )
    assert system.opendeur("groups", "import", str(csv)).returncode == 0
    cid = pseudonym(settings(), "contact", vera)
    token = links.sign(settings(), "group", {"g": "vertrekgroep-test", "c": cid})
    page = system.url("routing") + f"/groups/self/{token}"
    async with httpx.AsyncClient() as c:
        first = await c.get(page)
        assert first.status_code == 200 and "Uit het netwerk gaan" in first.text
        # The leave button only opens a second step; it changes nothing by itself.
        assert 'name="confirm" value="leave"' in first.text
        assert 'name="action" value="leave"' not in first.text
        # A POST without the confirmation (one tap, a replayed form) asks first, leaves nothing.
        r = await c.post(page, data={"action": "leave"})
        assert r.status_code == 303 and r.headers["location"].endswith("&confirm=leave")
        assert "actief" in (await c.get(page)).text
        ask_page = await c.get(system.url("routing") + r.headers["location"])
        assert "Wil je met je groep uit het netwerk gaan?" in ask_page.text
        assert "Pauzeren" in ask_page.text and "netwerkteam" in ask_page.text
        assert 'name="confirm" value="yes"' in ask_page.text and 'id="cancel"' in ask_page.text
        r = await c.post(page, data={"action": "leave", "confirm": "yes"})
        assert r.status_code == 303
        left = await c.get(page)
        assert "uit het netwerk" in left.text and "weer meedoen" in left.text
        assert "<button" not in left.text.split("<main", 1)[1]  # nothing left to press
        en = await c.get(page + "?lang=en")
        assert "left the network" in en.text and "join again" in en.text


async def test_erasing_outcomes_ask_for_confirmation_on_the_callback_page(system: System) -> None:
    async with httpx.AsyncClient() as client:
        q = await ask(client, system, topic="angst", postcode=None)
        mail = await system.wait_mail(lambda m: q["reference"] in m.subject)
        html = (await client.get(LINK.search(mail.text).group(1))).text
    # "We talked" and "Referred" erase the data: each sits behind a second step (no JS needed).
    for code in ("reached", "referred_professional"):
        block = re.search(
            # (after a talk, first the box "wants to come to the group" and its hint)
            r'<details class="confirm"><summary>[^<]+</summary>'
            r'(?:<p><label class="check">.*?</label></p><p class="hint"[^>]*>[^<]+</p>)?'
            r"<p>([^<]+)</p>"
            rf'<button type="submit" name="outcome" value="{code}">',
            html,
        )
        assert block and "gewist" in block.group(1), code
    # "Not reached" is one tap and says truthfully what follows.
    assert re.search(r'<button type="submit" name="outcome" value="unreachable">', html)
    assert "De vraag blijft van jou" in html or "blijft van jou" in html
    assert "Na 3 keer" in html


async def test_the_overview_gives_the_deadline_in_words(system: System) -> None:
    async with httpx.AsyncClient() as client:
        q = await ask(client, system, topic="angst", postcode=None)
        await system.wait_mail(lambda m: q["reference"] in m.subject)
        cid = pseudonym(settings(), "contact", "bram.angst@example.org")
        page = system.url("routing") + "/contact/" + links.sign(settings(), "contact", {"c": cid})
        html = (await client.get(page + "?lang=nl")).text
    item = html.split(q["reference"], 1)[1].split("</li>", 1)[0]
    assert re.search(r"Terugbellen: uiterlijk [a-z]+dag \d{1,2} [a-z]+, \d{1,2}\.\d\d uur", item)
    assert re.search(r"Binnengekomen: [a-z]+dag \d{1,2} [a-z]+, \d{1,2}\.\d\d uur", item)
    assert not re.search(r"\d\d-\d\d-\d{4}", item)
    # The callback link from the overview opens intake's page in the contact's language as well.
    link = callback_link(html, q["reference"])
    assert link.endswith("?lang=nl")
    async with httpx.AsyncClient() as client:
        # Without her PIN it says so, in English too; with it, the page opens in English.
        en = await client.get(link[: -len("nl")] + "en")
        assert en.status_code == 403 and '<html lang="en">' in en.text
        assert "Use the link in the mail about this question" in en.text
        async with pin_set(client, system, BRAM):
            en = await client.get(link[: -len("nl")] + "en")
    assert en.status_code == 200 and '<html lang="en">' in en.text


async def triage_page(system: System) -> str:
    """The team's queue as a newly signed-in team member sees it."""
    team = await staff_client(system, "teamlid")
    try:
        return (await team.get(system.url("routing") + "/triage")).text
    finally:
        await team.aclose()


async def until(check, what: str, timeout: float = 30) -> None:
    """Wait for what a person would see after an event has gone round (the page is the proof)."""
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.2)


def item(html: str, reference: str) -> str:
    """The overview's entry for one question (empty when it is not listed)."""
    if reference not in html:
        return ""
    return html.split(reference, 1)[1].split("</li>", 1)[0]


async def test_not_reached_stays_on_the_overview_with_the_tries_until_the_team_takes_over(
    system: System, tmp_path
) -> None:
    pim = "pim.poging@example.org"
    csv = tmp_path / "groups.csv"
    csv.write_text(
        "group_name,topics,municipalities,online,contact_name,contact_email,max_open\n"
        f"Pogingengroep Test,ocd,,yes,Pim Poging,{pim},3\n"
    )
    assert system.opendeur("groups", "import", str(csv)).returncode == 0
    cid = pseudonym(settings(), "contact", pim)
    overview = system.url("routing") + "/contact/" + links.sign(settings(), "contact", {"c": cid})
    async with httpx.AsyncClient(timeout=10) as client:
        q = await ask(client, system, topic="ocd", postcode=None)
        mail = await system.wait_mail(lambda m: q["reference"] in m.subject)
        assert mail.to == [pim]
        callback = LINK.search(mail.text).group(1)
        before = item((await client.get(overview)).text, q["reference"])
        assert before and "Niet bereikt" not in before
        for n in (1, 2):
            r = await client.post(callback, data={"outcome": "unreachable"})
            assert r.status_code < 400

            async def tried(n: int = n) -> bool:
                return f"Niet bereikt: {n} van de 3 keer." in item(
                    (await client.get(overview)).text, q["reference"]
                )

            await until(tried, f"try {n} is not on the overview")
        entry = item((await client.get(overview)).text, q["reference"])
        # Still hers, with what to do next and what happens after the third try.
        assert "Probeer het nog eens" in entry and "3e keer" in entry and "netwerkteam" in entry
        en = item((await client.get(overview + "?lang=en")).text, q["reference"])
        assert "Not reached: 2 of 3 times." in en and "3rd try" in en
        assert (await client.post(callback, data={"outcome": "unreachable"})).status_code < 400

        async def handed_over() -> bool:
            return q["reference"] not in (await client.get(overview)).text

        await until(handed_over, "after the third try the question stays on her overview")
    page = await triage_page(system)
    card = page.split(q["reference"], 1)[1].split("</li>", 1)[0]
    assert "Contactpersoon kreeg de persoon 3 keer niet te pakken" in card
    visible = re.sub(r"<[^>]+>", " ", card)  # what the team reads; form values aside
    assert "3 keer niet bereikt" in visible and "unreachable" not in visible


async def test_the_triage_queue_puts_crisis_first_in_words_with_a_call_back(
    system: System, tmp_path
) -> None:
    csv = tmp_path / "groups.csv"
    csv.write_text(
        "group_name,topics,municipalities,online,contact_name,contact_email,max_open\n"
        "Parkinsongroep Eindhoven,parkinson,Eindhoven,no,Piet Park,piet.park@example.org,3\n"
    )
    assert system.opendeur("groups", "import", str(csv)).returncode == 0
    async with httpx.AsyncClient(timeout=10) as client:
        crisis = await ask(client, system, story="Ik wil niet meer leven.", topic="parkinson")
        assert crisis["advice"]["professional_help"] is True
        plain = await ask(client, system, topic="adhd", postcode="5701")
        for q in (crisis, plain):
            await system.wait_audit(q["question_id"], ["question.unmatched.v1"])
    page = await triage_page(system)
    cards = page.split('<li class="question')[1:]
    kinds = [c.startswith(" crisis") for c in cards]
    assert kinds[0] and kinds == sorted(kinds, reverse=True), "crisis questions come first"
    card = next(c for c in cards if crisis["reference"] in c)
    # The team calls a crisis question back itself, at intake.
    call = f'href="{system.url("intake")}/staff/crisis/{crisis["reference"]}">Bel terug</a>'
    assert call in card and "Crisis" in card
    assert "professionele hulp aangeraden" in card and "Eindhoven" in card
    # The matcher's suggestion with why; the lists start empty: nothing chosen for the team.
    assert "Voorstel, de best passende groep eerst:" in card
    # A crisis question goes to a group only on purpose: the form is behind "Toch naar een groep".
    assert "Toch naar een groep…" in card and "Ja, naar deze groep" in card
    assert "<strong>Parkinsongroep Eindhoven</strong>: onderwerp en gemeente passen" in card
    assert '<option value="" selected disabled>Kies een groep</option>' in card
    assert '<option value="" selected disabled>Kies een reden</option>' in card
    assert re.search(r"Terugbellen</dt><dd[^>]*>uiterlijk [a-z]+dag \d{1,2} [a-z]+, \d", card)
    other = next(c for c in cards if plain["reference"] in c)
    assert "Bel terug" not in other and "Helmond" in other
    assert "Geen groep voor dit onderwerp in de buurt" in other
    assert "geen passende groep met plek" in other  # no suggestion: said so, not an empty list
    for code in ("professional_help_advised", "no_group", "all_full", "helmond<", "adhd<"):
        assert code not in page
