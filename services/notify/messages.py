"""Notification texts in Dutch and English: what kind of question, the deadline, the link — nothing personal."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape
from zoneinfo import ZoneInfo

from services.notify.channels import Rendered

AMS = ZoneInfo("Europe/Amsterdam")
SIGNATURE = "— Zelfhulp Netwerk"


@dataclass(frozen=True)
class Link:
    url: str


Part = str | Link


def with_lang(url: str, lang: str) -> str:
    """The contact's language on a link to routing's pages, so they open in it (`?lang=en`)."""
    return f"{url}{'&' if '?' in url else '?'}lang={'en' if lang == 'en' else 'nl'}"


def local_time(dt: datetime) -> str:
    return dt.astimezone(AMS).strftime("%d-%m-%Y %H:%M")


def ago(earlier: datetime, now: datetime, lang: str) -> str:
    minutes = max(0, int((now - earlier).total_seconds() // 60))
    if minutes < 60:
        return f"{minutes} min"
    hours = minutes // 60
    return f"{hours} uur" if lang == "nl" else f"{hours} h"


def render(subject: str, parts: Sequence[Part]) -> Rendered:
    """Plain text and an HTML part with the same content; every piece of text is escaped."""
    text = "\n".join(p.url if isinstance(p, Link) else p for p in parts)
    html_lines = []
    for p in parts:
        if isinstance(p, Link):
            url = escape(p.url, quote=True)
            html_lines.append(f'<p><a href="{url}">{url}</a></p>')
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
) -> Rendered:
    """The mail to a contact person: a new question for their group, or a reminder of one."""
    overview_link = with_lang(overview_link, lang) if overview_link else None
    pause_link = with_lang(pause_link, lang) if pause_link else None
    if lang == "en":
        topic = topic_label or "no topic given"
        subject = (
            f"Reminder: question {reference} still waits for your call"
            if reminder
            else f"Someone asks your group for a callback ({reference})"
        )
        parts: list[Part] = ["Hello,", ""]
        if reminder:
            parts.append(
                f"Reminder: question {reference} has not been called back yet. "
                f"Please call before {local_time(respond_before)} (Dutch time)."
            )
        parts += [
            f"Someone asked the self-help network a question about: {topic}.",
            f"Asked via: {'the website' if channel == 'web' else 'the phone line'}, "
            f"{ago(received_at, now, lang)} ago.",
            f"Please call back before {local_time(respond_before)} (Dutch time).",
        ]
        if priority:
            parts.append("PRIORITY: the network team advised professional help as well.")
        parts += ["", "Open this link to see the phone number and record how it went:", Link(link)]
        parts += ["", "This link is personal; do not forward it."]
        if overview_link:
            parts += [
                "",
                "My overview — everyone waiting for your call, how many questions you take "
                "at once and when you can call:",
                Link(overview_link),
            ]
        if pause_link:
            parts += ["", "Need a break? Pause or resume your group here:", Link(pause_link)]
    else:
        topic = topic_label or "onbekend onderwerp"
        subject = (
            f"Herinnering: vraag {reference} wacht nog op je telefoontje"
            if reminder
            else f"Iemand vraagt je groep om terug te bellen ({reference})"
        )
        parts = ["Hallo,", ""]
        if reminder:
            parts.append(
                f"Herinnering: vraag {reference} is nog niet teruggebeld. "
                f"Bel graag vóór {local_time(respond_before)}."
            )
        parts += [
            f"Iemand stelde het zelfhulpnetwerk een vraag over: {topic}.",
            f"Gesteld via: {'de website' if channel == 'web' else 'de telefoonlijn'}, "
            f"{ago(received_at, now, lang)} geleden.",
            f"Bel graag terug vóór {local_time(respond_before)}.",
        ]
        if priority:
            parts.append("VOORRANG: het netwerkteam adviseerde ook professionele hulp.")
        parts += [
            "",
            "Open deze link om het telefoonnummer te zien en te noteren hoe het ging:",
            Link(link),
        ]
        parts += ["", "Deze link is persoonlijk; stuur hem niet door."]
        if overview_link:
            parts += [
                "",
                "Mijn overzicht — wie op je telefoontje wacht, hoeveel vragen je tegelijk "
                "aankunt en wanneer je kunt bellen:",
                Link(overview_link),
            ]
        if pause_link:
            parts += ["", "Even geen nieuwe vragen? Zet je groep hier op pauze of weer aan:"]
            parts.append(Link(pause_link))
    parts += ["", SIGNATURE]
    return render(subject, parts)


def sms_text(
    *,
    lang: str,
    reference: str,
    topic_label: str | None,
    respond_before: datetime,
    link: str,
    overview_link: str | None = None,
    reminder: bool = False,
) -> Rendered:
    """A short SMS: topic, deadline, the callback link, and the link to the contact's overview."""
    when = local_time(respond_before)
    if lang == "en":
        head = f"Reminder {reference}" if reminder else "New question"
        body = f"{head} ({topic_label or 'no topic'}). Call back before {when}: {link}"
        mine = "Your overview"
    else:
        head = f"Herinnering {reference}" if reminder else "Nieuwe vraag"
        body = f"{head} ({topic_label or 'geen onderwerp'}). Bel terug vóór {when}: {link}"
        mine = "Je overzicht"
    if overview_link:
        body += f"\n{mine}: {with_lang(overview_link, lang)}"
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
