"""Notification texts in Dutch and English: what kind of question, the deadline, the link — nothing personal."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape

from opendeur import timefmt
from opendeur.timefmt import AMS
from services.notify.channels import Rendered

SIGNATURE = "— Zelfhulp Netwerk"


@dataclass(frozen=True)
class Link:
    url: str
    label: str = ""  # in the HTML part the label is the link's text (no raw address)
    button: bool = False  # the one main action, drawn as a button


Part = str | Link


def with_lang(url: str, lang: str) -> str:
    """The contact's language on a link to their pages (routing's and intake's callback page)."""
    return f"{url}{'&' if '?' in url else '?'}lang={'en' if lang == 'en' else 'nl'}"


LANGUAGE_NAMES = {
    "en": {"nl": "Engels", "en": "English"},
    "nl": {"nl": "Nederlands", "en": "Dutch"},
}


def language_name(code: str, lang: str) -> str:
    """A language's name in the reader's language ("Engels"), the code when unknown."""
    return LANGUAGE_NAMES.get(code, {}).get("en" if lang == "en" else "nl", code)


def local_time(dt: datetime) -> str:
    return dt.astimezone(AMS).strftime("%d-%m-%Y %H:%M")


def asked(earlier: datetime, now: datetime, lang: str) -> str:
    """How long ago a question came in, as people say it: "zojuist", "25 minuten geleden"."""
    minutes = max(0, int((now - earlier).total_seconds() // 60))
    if minutes < 5:
        return "just now" if lang == "en" else "zojuist"
    if minutes < 60:
        return f"{minutes} minutes ago" if lang == "en" else f"{minutes} minuten geleden"
    hours = minutes // 60
    if lang == "en":
        return "1 hour ago" if hours == 1 else f"{hours} hours ago"
    return f"{hours} uur geleden"


BUTTON_STYLE = (
    "display:inline-block;padding:12px 20px;background:#005a8c;color:#ffffff;"
    "font-weight:bold;text-decoration:none;border-radius:4px"
)


def ago(earlier: datetime, now: datetime, lang: str) -> str:
    minutes = max(0, int((now - earlier).total_seconds() // 60))
    if minutes < 60:
        return f"{minutes} min"
    hours = minutes // 60
    return f"{hours} uur" if lang == "nl" else f"{hours} h"


def render(subject: str, parts: Sequence[Part]) -> Rendered:
    """Plain text and an HTML part with the same content; every piece of text is escaped."""
    text = "\n".join(
        (f"{p.label}: {p.url}" if p.label else p.url) if isinstance(p, Link) else p for p in parts
    )
    html_lines = []
    for p in parts:
        if isinstance(p, Link):
            url = escape(p.url, quote=True)
            label = escape(p.label) if p.label else url
            style = f' style="{BUTTON_STYLE}"' if p.button else ""
            html_lines.append(f'<p><a href="{url}"{style}>{label}</a></p>')
        elif p:
            html_lines.append(f"<p>{escape(p)}</p>")
    html = (
        '<!doctype html><html><head><meta charset="utf-8"><title>'
        + escape(subject)
        + "</title></head><body>"
        + "".join(html_lines)
        + "</body></html>"
    )
    return Rendered(subject=subject, text=text, html=html)


def new_question(
    *,
    lang: str,
    reference: str,
    topic_label: str | None,
    channel: str,
    priority: bool,
    received_at: datetime,
    respond_before: datetime,
    now: datetime,
    link: str,
    pause_link: str | None = None,
    overview_link: str | None = None,
    reminder: bool = False,
    asker_language: str | None = None,
) -> Rendered:
    """The mail to a contact person: a new question for their group, or a reminder of one.
    One main action (open the question); the deadline in words; every link in their language."""
    q = _Question(
        reference=reference,
        topic_label=topic_label,
        channel=channel,
        priority=priority,
        deadline=timefmt.deadline(respond_before, lang),
        night=timefmt.night_note(respond_before, lang, crisis=priority),
        when=asked(received_at, now, lang),
        link=with_lang(link, lang),
        overview_link=with_lang(overview_link, lang) if overview_link else None,
        pause_link=with_lang(pause_link, lang) if pause_link else None,
        reminder=reminder,
        asker_language=asker_language,
    )
    return render(*_new_question_parts(q, "en" if lang == "en" else "nl"))


@dataclass(frozen=True)
class _Question:
    """What a contact's mail says about one question, its deadline and age already in words."""

    reference: str
    topic_label: str | None
    channel: str
    priority: bool
    deadline: str
    night: str | None
    when: str
    link: str
    overview_link: str | None
    pause_link: str | None
    reminder: bool
    asker_language: str | None


# The contact's mail in each language: one sentence a key, `{...}` filled in from the question.
NEW_QUESTION_WORDS: dict[str, dict[str, str]] = {
    "en": {
        "subject_reminder": "Reminder: question {reference} still waits for your call",
        "subject_new": "Someone asks your group for a callback ({reference})",
        "hello": "Hello,",
        "reminder": "Reminder: question {reference} has not been called back yet; please call "
        "{deadline}.",
        "no_topic": "no topic given",
        "about": "Someone asked the self-help network a question about: {topic}.",
        "web": "the website",
        "phone": "the phone line",
        "asked_via": "Asked via {via}, {when}.",
        "call_back": "Please call back {deadline} (Dutch time).",
        "night": "Nobody is called at night: the person expects your call {promise}.",
        "asker_language": "The person asking would rather speak {language}.",
        "priority": "PRIORITY: the network team advised professional help as well.",
        "open_intro": "Open the question to see the phone number, and afterwards record how it "
        "went:",
        "open": "Open the question",
        "personal": "This link is personal; do not forward it.",
        "overview_intro": "Everyone waiting for your call, how many questions you take at once "
        "and when you can call:",
        "overview": "My overview",
        "pause_intro": "Need a break? Pause or resume your group here:",
        "pause": "Pause or resume my group",
    },
    "nl": {
        "subject_reminder": "Herinnering: vraag {reference} wacht nog op je telefoontje",
        "subject_new": "Iemand vraagt je groep om terug te bellen ({reference})",
        "hello": "Hallo,",
        "reminder": "Herinnering: vraag {reference} is nog niet teruggebeld; bel graag {deadline}.",
        "no_topic": "onbekend onderwerp",
        "about": "Iemand stelde het zelfhulpnetwerk een vraag over: {topic}.",
        "web": "de website",
        "phone": "de telefoonlijn",
        "asked_via": "Gesteld via {via}, {when}.",
        "call_back": "Bel graag terug, {deadline}.",
        "night": "Niemand wordt 's nachts gebeld: de vrager verwacht je telefoontje {promise}.",
        "asker_language": "De vrager spreekt liever {language}.",
        "priority": "VOORRANG: het netwerkteam adviseerde ook professionele hulp.",
        "open_intro": "Open de vraag om het telefoonnummer te zien, en noteer na het gesprek hoe "
        "het ging:",
        "open": "Open de vraag",
        "personal": "Deze link is persoonlijk; stuur hem niet door.",
        "overview_intro": "Wie op je telefoontje wacht, hoeveel vragen je tegelijk aankunt en "
        "wanneer je kunt bellen:",
        "overview": "Mijn overzicht",
        "pause_intro": "Even geen nieuwe vragen? Zet je groep hier op pauze of weer aan:",
        "pause": "Groep pauzeren of weer aanzetten",
    },
}


def _new_question_parts(q: _Question, lang: str) -> tuple[str, list[Part]]:
    """The mail's subject and parts in `lang` (en or nl: NEW_QUESTION_WORDS)."""
    w = NEW_QUESTION_WORDS[lang]
    subject = w["subject_reminder" if q.reminder else "subject_new"].format(reference=q.reference)
    parts: list[Part] = [w["hello"], ""]
    if q.reminder:
        parts.append(w["reminder"].format(reference=q.reference, deadline=q.deadline))
    parts += [
        w["about"].format(topic=q.topic_label or w["no_topic"]),
        w["asked_via"].format(via=w["web" if q.channel == "web" else "phone"], when=q.when),
        w["call_back"].format(deadline=q.deadline),
    ]
    if q.night:
        parts.append(w["night"].format(promise=q.night))
    if q.asker_language:
        language = language_name(q.asker_language, lang)
        parts.append(w["asker_language"].format(language=language))
    if q.priority:
        parts.append(w["priority"])
    parts += ["", w["open_intro"], Link(q.link, w["open"], button=True), w["personal"]]
    if q.overview_link:
        parts += ["", w["overview_intro"], Link(q.overview_link, w["overview"])]
    if q.pause_link:
        parts += ["", w["pause_intro"], Link(q.pause_link, w["pause"])]
    return subject, [*parts, "", SIGNATURE]


# Four concatenated GSM-7 segments (4 x 153 characters): two signed links (Ed25519) and a line.
SMS_MAX_CHARS = 612


def sms_text(
    *,
    lang: str,
    reference: str,
    topic_label: str | None,
    respond_before: datetime,
    link: str,
    overview_link: str | None = None,
    reminder: bool = False,
    asker_language: str | None = None,
) -> Rendered:
    """A short SMS: topic, deadline, the callback link, and the link to the contact's overview."""
    when = timefmt.deadline(respond_before, lang)
    link = with_lang(link, lang)
    if lang == "en":
        head = f"Reminder {reference}" if reminder else "New question"
        body = f"{head} ({topic_label or 'no topic'}). Call back {when}: {link}"
        if asker_language:
            body += f"\nThe person asking would rather speak {language_name(asker_language, 'en')}."
        mine = "Your overview"
    else:
        head = f"Herinnering {reference}" if reminder else "Nieuwe vraag"
        body = f"{head} ({topic_label or 'geen onderwerp'}). Bel terug, {when}: {link}"
        if asker_language:
            body += f"\nDe vrager spreekt liever {language_name(asker_language, 'nl')}."
        mine = "Je overzicht"
    if overview_link:
        with_overview = body + f"\n{mine}: {with_lang(overview_link, lang)}"
        # Signed links are long (Ed25519): the overview (also in every mail) only while the
        # SMS stays within four segments; the callback link always goes.
        if len(with_overview) <= SMS_MAX_CHARS:
            body = with_overview
    return Rendered(subject=head, text=body)


def team_message(*, reference: str, question_id: str, respond_before: datetime) -> Rendered:
    """To the network team at 80% of the time: the contact has not called back yet."""
    subject = f"opendeur: vraag {reference} nog niet teruggebeld"
    return render(
        subject,
        [
            f"Vraag {reference} is nog niet teruggebeld; 80% van de tijd is om.",
            f"Termijn: {local_time(respond_before)}.",
            f"Vraag-id: {question_id}",
            "Bekijk de wachtrij van het netwerkteam.",
        ],
    )


def access_alert(*, contact_id: str, window_start: datetime, distinct_questions: int) -> Rendered:
    """To the network team: one contact's links opened more questions in an hour than anyone
    calls back (a forged link?). Ids and counts only."""
    subject = f"opendeur: ongewoon veel vragen geopend via contactpersoon {contact_id}"
    return render(
        subject,
        [
            f"Via de terugbellinks van contactpersoon {contact_id} zijn sinds "
            f"{local_time(window_start)} {distinct_questions} verschillende vragen geopend: "
            "meer dan iemand in een uur terugbelt.",
            "Intake opent via deze contactpersoon geen nieuwe vraag meer tot jullie het vrijgeven.",
            "Bel de contactpersoon na. Waren zij het niet, dan zijn de links mogelijk nagemaakt "
            "met de sleutel van notify: vervang die sleutel (docs/threat-model.md).",
            f"Vrijgeven: opendeur contacts clear-alert {contact_id}",
            SIGNATURE,
        ],
    )


@dataclass(frozen=True)
class Breach:
    reference: str
    respond_before: datetime


def digest(*, day: str, breaches: Sequence[Breach], now: datetime) -> Rendered:
    """One mail a day to the team: every question that passed its deadline, and how late."""
    subject = f"opendeur: {len(breaches)} vraag/vragen niet op tijd teruggebeld ({day})"
    parts: list[Part] = [
        f"Overzicht van {day}: deze vragen zijn niet binnen de termijn teruggebeld.",
        "",
    ]
    for b in sorted(breaches, key=lambda b: b.respond_before):
        parts.append(
            f"{b.reference} — termijn {local_time(b.respond_before)}, "
            f"nu {ago(b.respond_before, now, 'nl')} te laat"
        )
    parts += ["", "Bekijk de wachtrij van het netwerkteam.", SIGNATURE]
    return render(subject, parts)


def _reach_network(lang: str, phone: str | None, email: str | None) -> str:
    """How to reach the network team, from configuration (no placeholder number)."""
    ways = [w for w in (phone, email) if w]
    if lang == "en":
        return (
            "call or mail the network team: " + " or ".join(ways)
            if ways
            else ("contact the network team")
        )
    return (
        "bel of mail het netwerkteam: " + " of ".join(ways)
        if ways
        else ("neem contact op met het netwerkteam")
    )


def address_confirm(*, lang: str, link: str, until: datetime, channel: str) -> Rendered:
    """To the NEW address: one button that makes it the address for notifications."""
    until_text = timefmt.deadline(until, lang)
    if lang == "en":
        subject = "Please confirm your new address for the self-help network"
        intro = (
            "The network team set this address as where you receive questions from people "
            "who would like a callback from your group."
        )
        ask = f"Nothing changes until you confirm it, {until_text}:"
        label = "Confirm this address"
        unknown = "Not expecting this? Then do nothing: your address stays as it was."
        if channel == "sms":
            return Rendered(subject, f"{intro} {ask} {link}\n{unknown}")
    else:
        subject = "Bevestig je nieuwe adres voor het zelfhulpnetwerk"
        intro = (
            "Het netwerkteam heeft dit adres ingesteld voor de vragen van mensen die door "
            "je groep teruggebeld willen worden."
        )
        ask = f"Er verandert niets tot je het bevestigt, {until_text}:"
        label = "Dit adres bevestigen"
        unknown = "Verwacht je dit niet? Doe dan niets: je adres blijft zoals het was."
        if channel == "sms":
            return Rendered(subject, f"{intro} {ask} {link}\n{unknown}")
    hello = "Hello," if lang == "en" else "Hallo,"
    return render(
        subject, [hello, "", intro, ask, Link(link, label, button=True), "", unknown, SIGNATURE]
    )


def address_notice(
    *, lang: str, channel: str, phone: str | None = None, email: str | None = None
) -> Rendered:
    """To the OLD address: a change was asked for; who to call if that was not you."""
    reach = _reach_network(lang, phone, email)
    if lang == "en":
        subject = "Your address for the self-help network is being changed"
        lines = [
            "The network team is changing the address where you receive questions from people "
            "who would like a callback.",
            "Until the new address is confirmed, questions still come here.",
            f"Not you, or not what you want? Please {reach}.",
        ]
    else:
        subject = "Je adres voor het zelfhulpnetwerk wordt gewijzigd"
        lines = [
            "Het netwerkteam wijzigt het adres waarop je vragen krijgt van mensen die "
            "teruggebeld willen worden.",
            "Tot het nieuwe adres bevestigd is, komen de vragen nog hier binnen.",
            f"Heb je hier niet om gevraagd, of klopt het niet? {reach[0].upper()}{reach[1:]}.",
        ]
    if channel == "sms":
        return Rendered(subject, " ".join(lines))
    hello = "Hello," if lang == "en" else "Hallo,"
    return render(subject, [hello, "", *lines, "", SIGNATURE])
