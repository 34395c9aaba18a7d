"""Notification texts in Dutch and English: what kind of question, the deadline, the link — nothing personal."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from services.notify.channels import Rendered

AMS = ZoneInfo("Europe/Amsterdam")

TOPIC_LABELS_FALLBACK = "een vraag"


def _local(dt: datetime) -> str:
    return dt.astimezone(AMS).strftime("%d-%m-%Y %H:%M")


def _ago(received_at: datetime, now: datetime, lang: str) -> str:
    minutes = max(0, int((now - received_at).total_seconds() // 60))
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} uur" if lang == "nl" else f"{minutes // 60} h"


def new_question(
    *,
    lang: str,
    reference: str,
    topic: str | None,
    channel: str,
    priority: bool,
    received_at: datetime,
    respond_before: datetime,
    now: datetime,
    link: str,
    reminder: bool = False,
) -> Rendered:
    topic_txt = topic or ("onbekend onderwerp" if lang == "nl" else "no topic given")
    if lang == "en":
        head = "Reminder: " if reminder else ""
        subject = f"{head}Someone asks your group for a callback ({reference})"
        lines = [
            "Hello,",
            "",
            f"{'Reminder — ' if reminder else ''}someone asked the self-help network a question "
            f"about: {topic_txt}.",
            f"Asked via: {'the website' if channel == 'web' else 'the phone line'}, "
            f"{_ago(received_at, now, lang)} ago.",
            f"Please call back before {_local(respond_before)} (Dutch time).",
        ]
        if priority:
            lines.append("PRIORITY: the network team advised professional help as well.")
        lines += [
            "",
            "Open this link to see the phone number and record how it went:",
            link,
            "",
            "This link is personal; do not forward it.",
            "— Zelfhulp Netwerk",
        ]
    else:
        head = "Herinnering: " if reminder else ""
        subject = f"{head}Iemand vraagt je groep om terug te bellen ({reference})"
        lines = [
            "Hallo,",
            "",
            f"{'Herinnering — ' if reminder else ''}iemand stelde het zelfhulpnetwerk een vraag "
            f"over: {topic_txt}.",
            f"Gesteld via: {'de website' if channel == 'web' else 'de telefoonlijn'}, "
            f"{_ago(received_at, now, lang)} geleden.",
            f"Bel graag terug vóór {_local(respond_before)}.",
        ]
        if priority:
            lines.append("VOORRANG: het netwerkteam adviseerde ook professionele hulp.")
        lines += [
            "",
            "Open deze link om het telefoonnummer te zien en te noteren hoe het ging:",
            link,
            "",
            "Deze link is persoonlijk; stuur hem niet door.",
            "— Zelfhulp Netwerk",
        ]
    return Rendered(subject=subject, text="\n".join(lines))


def team_message(*, level: str, question_id: str, respond_before: datetime) -> Rendered:
    what = {
        "team": "nog niet teruggebeld (80% van de tijd is om)",
        "breach": "niet binnen de termijn teruggebeld",
    }.get(level, level)
    return Rendered(
        subject=f"opendeur: vraag {question_id[:8]} {what}",
        text=f"Vraag {question_id} is {what}. Termijn: {_local(respond_before)}.\n"
        "Bekijk de wachtrij van het netwerkteam.",
    )
