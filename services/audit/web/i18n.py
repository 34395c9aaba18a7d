"""The one catalogue of audit's pages (the operators' console, the trail, the funder report): Dutch
(B1) first, plain English second; and a readable label for every code an event carries."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from contracts.topics import catalogue as topic_catalogue
from opendeur import catalogue, timefmt
from services.audit import charts

LANGS = ("nl", "en")

CATALOGUE: dict[str, dict[str, str]] = {
    "console_title": {"nl": "Console", "en": "Console"},
    "console_intro": {
        "nl": "Hoe staan de vragen ervoor? Alle tijden zijn Nederlandse tijd.",
        "en": "How are the questions doing? All times are Dutch time.",
    },
    "queues": {"nl": "Wachtrijen", "en": "Queues"},
    "open_count": {"nl": "open vragen", "en": "open questions"},
    "open_count_one": {"nl": "open vraag", "en": "open question"},
    "triage_count": {"nl": "bij het team (triage)", "en": "with the team (triage)"},
    "dead_count": {"nl": "berichten vastgelopen", "en": "messages stuck"},
    "unknown": {"nl": "onbekend", "en": "unknown"},
    "charts": {"nl": "De laatste weken", "en": "The last weeks"},
    "chart_callback": {"nl": "Tijd tot terugbellen (30 dagen)", "en": "Time to callback (30 days)"},
    "chart_weekly": {"nl": "Op tijd teruggebeld, per week", "en": "Called back in time, per week"},
    "chart_topics": {
        "nl": "Vragen per onderwerp (30 dagen)",
        "en": "Questions per topic (30 days)",
    },
    "no_data": {"nl": "Nog geen gegevens", "en": "No data yet"},
    "chart_bar_desc": {
        "nl": "Staafdiagram met {n} staven. Hoogste: {label} ({value}). {listing}.",
        "en": "Bar chart with {n} bars. Highest: {label} ({value}). {listing}.",
    },
    "chart_histogram_desc": {
        "nl": "{n} keer teruggebeld, verdeeld over {bins} groepen van uren. {listing}.",
        "en": "{n} callbacks in {bins} groups of hours. {listing}.",
    },
    "chart_line_desc": {
        "nl": "Lijn van {n} weken, van {first} tot {last}. Laatste: {latest}. Laagste: {low} "
        "({low_label}). Hoogste: {high} ({high_label}).",
        "en": "Line of {n} weeks from {first} to {last}. Latest: {latest}. Lowest: {low} "
        "({low_label}). Highest: {high} ({high_label}).",
    },
    "chart_target_desc": {
        "nl": " Doel {target}, gehaald in {met} van de {n} weken.",
        "en": " Target {target}, reached in {met} of {n} weeks.",
    },
    "chart_target": {"nl": "doel {target}", "en": "target {target}"},
    "hours_unit": {"nl": "uur", "en": "h"},
    "open_title": {"nl": "Open vragen, de oudste eerst", "en": "Open questions, oldest first"},
    "col_reference": {"nl": "Vraag", "en": "Question"},
    "col_topic": {"nl": "Onderwerp", "en": "Topic"},
    "col_age": {"nl": "Wacht al", "en": "Waiting for"},
    "col_deadline": {"nl": "Terugbellen vóór", "en": "Call back before"},
    "col_state": {"nl": "Stand", "en": "State"},
    "on_time": {"nl": "op tijd", "en": "on time"},
    "late": {"nl": "te laat", "en": "late"},
    "in_triage": {"nl": "bij het team", "en": "with the team"},
    "open_more": {
        "nl": "De {shown} oudste van {total} staan hier.",
        "en": "The {shown} oldest of {total}.",
    },
    "open_none": {"nl": "Er staan geen vragen open.", "en": "No open questions."},
    "no_topic": {"nl": "geen onderwerp", "en": "no topic"},
    "dead_title": {"nl": "Vastgelopen berichten", "en": "Stuck messages"},
    "dead_intro": {
        "nl": "Een dienst kon deze berichten niet verwerken. Wat erin staat, zie je hier niet. Los eerst "
        "de oorzaak op. Vraag daarna aan om het bericht opnieuw aan te bieden: dat komt met jouw "
        "medewerkernummer in het logboek. Iemand met toegang tot de server voert het uit met de "
        "opdracht in de rij.",
        "en": "A service could not handle these messages. What is in them is not shown here. Fix the "
        "cause first. Then ask for the message to be offered again: that goes into the trail with "
        "your staff number. Someone with access to the server carries it out with the command in "
        "the row.",
    },
    "dead_when": {"nl": "Vastgelopen", "en": "Stuck at"},
    "dead_consumer": {"nl": "Bij", "en": "At"},
    "dead_reason": {"nl": "Waarom", "en": "Why"},
    "dead_subject": {"nl": "Soort bericht", "en": "Kind of message"},
    "tech_code": {"nl": "Code voor de technici", "en": "Code for the engineers"},
    "dead_replay": {"nl": "Opnieuw aanbieden", "en": "Offer again"},
    "dead_replay_button": {"nl": "Opnieuw aanbieden aanvragen", "en": "Ask to offer it again"},
    "dead_requested": {"nl": "Aangevraagd {who}, {when}.", "en": "Asked for {who}, {when}."},
    "dead_command": {"nl": "Uitvoeren op de server:", "en": "Carry out on the server:"},
    "dead_more": {
        "nl": "De {shown} nieuwste van {total} staan hier.",
        "en": "The {shown} newest of {total}.",
    },
    "dead_unknown": {
        "nl": "De berichtendienst is nu niet bereikbaar; vastgelopen berichten zijn onbekend.",
        "en": "The message broker cannot be reached; stuck messages are unknown.",
    },
    "dead_none": {"nl": "Er zijn geen vastgelopen berichten.", "en": "No stuck messages."},
    "replay_done": {
        "nl": "Vastgelopen bericht {seq}: opnieuw aanbieden is aangevraagd en staat in het logboek.",
        "en": "Stuck message {seq}: offering it again was asked for and is in the trail.",
    },
    "replay_gone": {
        "nl": "Er is geen vastgelopen bericht {seq} (meer).",
        "en": "There is no stuck message {seq} (any more).",
    },
    "replay_not_event": {
        "nl": "Vastgelopen bericht {seq} kan niet opnieuw worden aangeboden: het is geen gewoon "
        "bericht, of de inhoud is niet bewaard.",
        "en": "Stuck message {seq} cannot be offered again: it is not an ordinary message, or its "
        "content was not kept.",
    },
    "trail_title": {"nl": "Logboek, het nieuwste eerst", "en": "Trail, newest first"},
    "trail_live": {
        "nl": "Nieuwe regels verschijnen vanzelf bovenaan.",
        "en": "New lines appear at the top by themselves.",
    },
    "filter_all": {"nl": "Alles", "en": "Everything"},
    "filter_staff": {"nl": "Acties van medewerkers", "en": "Actions by staff"},
    "filter_label": {"nl": "Toon", "en": "Show"},
    "trail_none": {"nl": "Nog niets in het logboek.", "en": "Nothing in the trail yet."},
    "col_when": {"nl": "Wanneer", "en": "When"},
    "col_what": {"nl": "Wat", "en": "What"},
    "col_who": {"nl": "Door", "en": "By"},
    "col_details": {"nl": "Bijzonderheden", "en": "Details"},
    "by_staff": {"nl": "door medewerker {staff}", "en": "by staff member {staff}"},
    "by_contact": {"nl": "door contactpersoon {contact}", "en": "by contact person {contact}"},
    "by_team": {"nl": "door het team", "en": "by the team"},
    "by_machine": {
        "nl": "door koppeling {name} (machinetoken)",
        "en": "by integration {name} (machine token)",
    },
    "by_cli": {
        "nl": "met een opdracht op de server (opendeur users)",
        "en": "with a command on the server (opendeur users)",
    },
    "by_cli_account": {
        "nl": "met een opdracht op de server (serveraccount {account})",
        "en": "with a command on the server (server account {account})",
    },
    "by_new_address": {
        "nl": "bevestigd door het nieuwe adres",
        "en": "confirmed by the new address",
    },
    "requested_by": {"nl": "aangevraagd {who}", "en": "asked for {who}"},
    "by_system": {"nl": "automatisch", "en": "automatically"},
    "no_reference": {
        "nl": "vraag {short} (geen OD-nummer bekend)",
        "en": "question {short} (no OD reference known)",
    },
    "group": {"nl": "groep {group}", "en": "group {group}"},
    "contact": {"nl": "contactpersoon {contact}", "en": "contact person {contact}"},
    "account_of": {"nl": "account van medewerker {staff}", "en": "account of staff member {staff}"},
    "account_added": {"nl": "account aangemaakt", "en": "account added"},
    "account_disabled": {"nl": "account uitgezet", "en": "account disabled"},
    "account_enabled": {"nl": "account weer aangezet", "en": "account enabled again"},
    "account_roles": {"nl": "rollen gewijzigd", "en": "roles changed"},
    "account_password": {"nl": "wachtwoord gekozen", "en": "password chosen"},
    "account_signin_link": {"nl": "nieuwe aanmeldlink gemaakt", "en": "new sign-in link made"},
    "attempt": {"nl": "poging {n}", "en": "attempt {n}"},
    "priority": {"nl": "voorrang", "en": "priority"},
    "joins_group": {"nl": "wil naar de groep komen", "en": "wants to come to the group"},
    "invalid": {
        "nl": "onleesbaar bericht, alleen het soort bewaard",
        "en": "unreadable, only its kind kept",
    },
    "dead_letter_n": {"nl": "vastgelopen bericht {seq}", "en": "stuck message {seq}"},
    "report_title": {"nl": "Maandrapport {month}", "en": "Monthly report {month}"},
    "report_note": {
        "nl": "Aantallen van 1 tot en met 4 staan er als <5. Soms is ook een ander getal verborgen (•), "
        "zodat niemand ze kan terugrekenen. Reactietijden staan er alleen bij minstens 5 "
        "beantwoorde vragen.",
        "en": "Counts from 1 to 4 are shown as <5. Sometimes another number is hidden too (•), so "
        "nobody can work them out. Response times are shown only with at least 5 answered "
        "questions.",
    },
    "report_part": {"nl": "Onderdeel", "en": "Part"},
    "report_count": {"nl": "Aantal", "en": "Count"},
    "report_total": {"nl": "Totaal", "en": "Total"},
    "report_month": {"nl": "Maand", "en": "Month"},
    "report_show": {"nl": "Toon", "en": "Show"},
    "report_csv": {"nl": "Download als CSV", "en": "Download as CSV"},
    "bad_month": {
        "nl": "Kies een maand, bijvoorbeeld 2026-11.",
        "en": "Choose a month, for example 2026-11.",
    },
}

# Every event type, for people.
TYPES: dict[str, dict[str, str]] = {
    "question.received.v1": {"nl": "Vraag binnengekomen", "en": "Question received"},
    "question.routed.v1": {"nl": "Naar een groep gestuurd", "en": "Sent to a group"},
    "question.unmatched.v1": {
        "nl": "Naar het team (geen groep)",
        "en": "To the team (no group)",
    },
    "question.escalated.v1": {"nl": "Herinnering of escalatie", "en": "Reminder or escalation"},
    "question.closed.v1": {"nl": "Gesloten door het team", "en": "Closed by the team"},
    "contact.notified.v1": {
        "nl": "Contactpersoon bericht gestuurd",
        "en": "Contact person notified",
    },
    "notification.failed.v1": {
        "nl": "Bericht aan contactpersoon mislukt",
        "en": "Notification failed",
    },
    "callback.done.v1": {"nl": "Terugbellen vastgelegd", "en": "Callback recorded"},
    "consent.withdrawn.v1": {"nl": "Toestemming ingetrokken", "en": "Consent withdrawn"},
    "question.erased.v1": {"nl": "Gegevens gewist", "en": "Data erased"},
    "referral.noted.v1": {"nl": "Verwijzing geteld", "en": "Referral counted"},
    "followup.answered.v1": {
        "nl": "Antwoord na het gesprek geteld",
        "en": "Answer after the call counted",
    },
    "group.changed.v1": {"nl": "Groep gewijzigd", "en": "Group changed"},
    "pii.accessed.v1": {"nl": "Persoonsgegevens bekeken", "en": "Personal data viewed"},
    "pii.alerted.v1": {
        "nl": "Waarschuwing: veel gegevens bekeken",
        "en": "Alert: much data viewed",
    },
    "staff.acted.v1": {"nl": "Actie van een medewerker", "en": "Action by staff"},
}

# The codes inside events, per field, for people. A code not listed here is shown as
# "overig (code)", never bare.
CODES: dict[str, dict[str, dict[str, str]]] = {
    "action": {
        "assign": {"nl": "vraag aan een groep gegeven", "en": "question given to a group"},
        "close": {"nl": "vraag gesloten", "en": "question closed"},
        "group_status": {"nl": "status van een groep gewijzigd", "en": "group status changed"},
        "address_change": {"nl": "adreswijziging aangevraagd", "en": "address change requested"},
        "address_confirmed": {"nl": "nieuw adres bevestigd", "en": "new address confirmed"},
        "account_change": {"nl": "medewerkeraccount gewijzigd", "en": "staff account changed"},
        "deadletter_replay": {
            "nl": "vastgelopen bericht opnieuw aanbieden aangevraagd",
            "en": "asked to offer a stuck message again",
        },
        "crisis_outcome": {
            "nl": "crisisvraag: uitkomst vastgelegd",
            "en": "crisis question: outcome recorded",
        },
        "signed_out": {"nl": "afgemeld", "en": "signed out"},
        "withdrawn_by_phone": {
            "nl": "vraag ingetrokken op verzoek van de beller",
            "en": "question withdrawn at the caller's request",
        },
    },
    "outcome": {
        "reached": {"nl": "bereikt", "en": "reached"},
        "reached_joins": {
            "nl": "bereikt, wil naar de groep komen",
            "en": "reached, wants to come to the group",
        },
        "unreachable": {"nl": "niet bereikt", "en": "not reached"},
        "wrong_group": {"nl": "verkeerde groep", "en": "wrong group"},
        "referred_professional": {
            "nl": "doorverwezen naar professionele hulp",
            "en": "referred to a professional",
        },
    },
    "answer": {
        "yes": {"nl": "het gesprek hielp", "en": "the call helped"},
        "somewhat": {"nl": "het gesprek hielp een beetje", "en": "the call helped a little"},
        "no": {"nl": "het gesprek hielp niet", "en": "the call did not help"},
    },
    "level": {
        "reminder": {
            "nl": "herinnering aan de contactpersoon",
            "en": "reminder to the contact person",
        },
        "team": {"nl": "naar het team: de tijd dringt", "en": "to the team: time is running out"},
        "breach": {
            "nl": "te laat: niet op tijd teruggebeld",
            "en": "late: not called back in time",
        },
    },
    "reason": {
        "topic+municipality": {
            "nl": "groep voor dit onderwerp in de gemeente",
            "en": "group in the town",
        },
        "topic+region": {"nl": "groep voor dit onderwerp in de regio", "en": "group in the region"},
        "topic+online": {
            "nl": "online groep voor dit onderwerp",
            "en": "online group for this topic",
        },
        "topic+municipality+after_hours": {
            "nl": "groep in de gemeente, buiten beltijden",
            "en": "group in the town, outside call hours",
        },
        "topic+region+after_hours": {
            "nl": "groep in de regio, buiten beltijden",
            "en": "group in the region, outside call hours",
        },
        "topic+online+after_hours": {
            "nl": "online groep, buiten beltijden",
            "en": "online group, outside call hours",
        },
        "team": {"nl": "door het team gekozen", "en": "chosen by the team"},
        "team_assign": {"nl": "door het team gekozen", "en": "chosen by the team"},
        "professional_help_advised": {
            "nl": "crisis, professionele hulp aangeraden",
            "en": "crisis, professional help advised",
        },
        "no_topic": {"nl": "geen onderwerp gekozen", "en": "no topic chosen"},
        "no_group": {
            "nl": "geen groep voor dit onderwerp in de buurt",
            "en": "no group for this topic nearby",
        },
        "all_full": {
            "nl": "alle passende groepen zitten vol",
            "en": "every matching group is full",
        },
        "group_left": {"nl": "de groep is gestopt", "en": "the group stopped"},
        "delivery_uncertain": {
            "nl": "onzeker of het bericht aankwam",
            "en": "unsure the message arrived",
        },
        "replaced": {"nl": "vervangen", "en": "replaced"},
        "handled_by_team": {"nl": "afgehandeld door het team", "en": "handled by the team"},
        "referred_professional": {"nl": "doorverwezen naar professionele hulp", "en": "referred"},
        "no_callback_wanted": {
            "nl": "wil niet meer teruggebeld worden",
            "en": "no longer wants a call",
        },
        "duplicate": {"nl": "dubbele vraag", "en": "duplicate question"},
        "unreachable": {"nl": "niet bereikbaar", "en": "unreachable"},
        "withdrawn": {"nl": "ingetrokken door de vrager", "en": "withdrawn by the person"},
        "retention": {"nl": "bewaartermijn voorbij", "en": "retention period over"},
        "unanswered": {"nl": "niet beantwoord binnen de termijn", "en": "not answered in time"},
    },
    "purpose": {
        "new_question": {"nl": "nieuwe vraag", "en": "new question"},
        "question": {"nl": "nieuwe vraag", "en": "new question"},
        "reminder": {"nl": "herinnering", "en": "reminder"},
        "team_escalation": {"nl": "melding aan het team", "en": "alert to the team"},
        "callback_page": {
            "nl": "terugbelpagina van de contactpersoon",
            "en": "contact's callback page",
        },
        "team_callback": {"nl": "teruggebeld door het team", "en": "called back by the team"},
    },
    "channel": {
        "web": {"nl": "website", "en": "web"},
        "phone": {"nl": "telefoon", "en": "phone"},
        "email": {"nl": "e-mail", "en": "e-mail"},
        "sms": {"nl": "sms", "en": "text message"},
    },
    "change": {
        "joined": {"nl": "aangemeld", "en": "joined"},
        "updated": {"nl": "bijgewerkt", "en": "updated"},
        "paused": {"nl": "gepauzeerd", "en": "paused"},
        "resumed": {"nl": "weer actief", "en": "active again"},
        "left": {"nl": "gestopt", "en": "left"},
    },
    "referrer_kind": {
        "professional": {"nl": "een hulpverlener", "en": "a professional"},
        "family": {"nl": "familie", "en": "family"},
        "other": {"nl": "iemand anders", "en": "someone else"},
        "unknown": {"nl": "onbekend", "en": "unknown"},
    },
    "error_code": {
        "delivery_uncertain": {"nl": "onzeker of het aankwam", "en": "unsure it arrived"},
    },
}
OTHER = {"nl": "overig ({code})", "en": "other ({code})"}

# The funder report's tables, and the field whose labels its keys are.
REPORT_TABLES: dict[str, dict[str, str | None]] = {
    "questions_by_topic": {
        "nl": "Vragen per onderwerp",
        "en": "Questions per topic",
        "field": "topic",
    },
    "questions_by_channel": {
        "nl": "Vragen per kanaal",
        "en": "Questions per channel",
        "field": "channel",
    },
    "routed_by_municipality": {
        "nl": "Doorgestuurd per gemeente",
        "en": "Sent on per town",
        "field": None,
    },
    "outcomes": {"nl": "Uitkomsten", "en": "Outcomes", "field": "outcome"},
    "followup": {
        "nl": "Heeft het gesprek geholpen? (antwoord van de hulpvrager zelf)",
        "en": "Did the call help? (the help-seeker's own answer)",
        "field": "answer",
    },
    "referrals_by_kind": {
        "nl": "Verwijzingen per soort",
        "en": "Referrals per kind",
        "field": "referrer_kind",
    },
    "buddy_signals_by_topic": {
        "nl": "Samen een groep starten, per onderwerp",
        "en": "Starting a group together, per topic",
        "field": "topic",
    },
    "answered_by_topic": {
        "nl": "Beantwoord per onderwerp",
        "en": "Answered per topic",
        "field": "topic",
    },
    "response_times": {"nl": "Reactietijden", "en": "Response times", "field": None},
    "median_callback_by_topic": {
        "nl": "Middelste tijd tot terugbellen, per onderwerp (uren:minuten:seconden)",
        "en": "Median time to callback, per topic (hours:minutes:seconds)",
        "field": "topic",
    },
}
REPORT_KEYS: dict[str, dict[str, str]] = {
    "total": {"nl": "Totaal", "en": "Total"},
    "unknown": {"nl": "onbekend", "en": "unknown"},
    "median_callback": {
        "nl": "Middelste tijd tot terugbellen (uren:minuten:seconden)",
        "en": "Median time to callback (hours:minutes:seconds)",
    },
    "within_deadline": {"nl": "Op tijd teruggebeld", "en": "Called back in time"},
}


def _pick(texts: Mapping[str, str], lang: str) -> str:
    return texts["en" if lang == "en" else "nl"]


def translator(lang: str) -> Callable[..., str]:
    """`t("key", name=value)`: the text in `lang`, with {name} filled in (the kit's translator)."""
    return catalogue.translator(CATALOGUE, "en" if lang == "en" else "nl")


def type_label(event_type: str, lang: str) -> str:
    pair = TYPES.get(event_type)
    return _pick(pair, lang) if pair else _pick(OTHER, lang).format(code=event_type)


def code_label(field: str, code: str, lang: str) -> str:
    if field == "purpose":  # notify's purposes carry the routing attempt: "new_question.2"
        base, _, attempt = code.rpartition(".")
        code = base if base and attempt.isdigit() else code
    pair = CODES.get(field, {}).get(code)
    if pair is None and field == "reason":
        pair = CODES["outcome"].get(code)
        if pair is None and "+" in code:
            return routing_reason(code, lang)
    return _pick(pair, lang) if pair else _pick(OTHER, lang).format(code=code)


LANGUAGE_NAMES = {
    "nl": {"nl": "Nederlands", "en": "Dutch"},
    "en": {"nl": "Engels", "en": "English"},
}


def routing_reason(code: str, lang: str) -> str:
    """A routing reason built of parts: "topic+municipality+after_hours+in_en" -> the tier, then
    "buiten beltijden", then the language the contact calls in."""
    parts = code.split("+")
    tier = "+".join(parts[:2]) if parts[0] == "topic" else parts[0]
    base = CODES["reason"].get(tier)
    if base is None:
        return _pick(OTHER, lang).format(code=code)
    words = [_pick(base, lang)]
    for part in parts[2:] if parts[0] == "topic" else parts[1:]:
        if part == "after_hours":
            words.append("buiten beltijden" if lang != "en" else "outside call hours")
        elif part.startswith("in_") and "_not_" in part:
            asked = part.rsplit("_not_", 1)[1]
            name = _pick(LANGUAGE_NAMES.get(asked, {"nl": asked, "en": asked}), lang)
            words.append(
                f"in het Nederlands: niemand vrij die {name} spreekt"
                if lang != "en"
                else f"in Dutch: nobody free who speaks {name}"
            )
        elif part.startswith("in_"):
            name = _pick(LANGUAGE_NAMES.get(part[3:], {"nl": part[3:], "en": part[3:]}), lang)
            words.append(f"belt in het {name}" if lang != "en" else f"calls in {name}")
        else:
            return _pick(OTHER, lang).format(code=code)
    return ", ".join(words)


def topic_label(code: str | None, lang: str) -> str:
    if not code or code == "unknown":
        return _pick(CATALOGUE["no_topic"], lang)
    for topic in topic_catalogue():
        if topic["code"] == code:
            return topic["en" if lang == "en" else "nl"]
    return _pick(OTHER, lang).format(code=code)


def labels(lang: str) -> Mapping[str, Any]:
    """What the templates use, bound to `lang`: t, the label functions, and `q` (the query
    string that keeps English on a link)."""
    return {
        "t": translator(lang),
        "type_label": lambda event_type: type_label(event_type, lang),
        "code_label": lambda field, code: code_label(field, code, lang),
        "topic_label": lambda code: topic_label(code, lang),
        "dead_reason": lambda reason: dead_reason(reason, lang),
        "consumer_label": lambda durable: consumer_label(durable, lang),
        "month_label": lambda month: month_label(month, lang),
        "q": "?lang=en" if lang == "en" else "",
    }


def month_label(month: str, lang: str) -> str:
    """ "2026-12" as a person says it: "december 2026" (anything else as it is)."""
    year, _, number = str(month).partition("-")
    if not (year.isdigit() and number.isdigit() and 1 <= int(number) <= 12):
        return str(month)
    return timefmt.month(int(year), int(number), lang)


def chart_words(lang: str) -> charts.Words:
    t = translator(lang)
    return charts.Words(
        no_data=t("no_data"),
        bar=t("chart_bar_desc"),
        histogram=t("chart_histogram_desc"),
        line=t("chart_line_desc"),
        target=t("chart_target_desc"),
        target_label=t("chart_target"),
    )


def report_table(table: str, lang: str) -> str:
    names = REPORT_TABLES.get(table)
    if names is None:
        return _pick(OTHER, lang).format(code=table)
    return str(_pick(names, lang))


def report_key(table: str, key: str, lang: str) -> str:
    """A row of the report in words: a topic's, channel's or outcome's label, a town's name."""
    if key in REPORT_KEYS:
        return _pick(REPORT_KEYS[key], lang)
    field = REPORT_TABLES.get(table, {}).get("field")
    if field == "topic":
        return topic_label(key, lang)
    if field is not None:
        return code_label(field, key, lang)
    # A municipality code: "s-hertogenbosch", "nuenen-gerwen-en-nederwetten".
    return " ".join(w if w in ("en", "de", "van") else w.capitalize() for w in key.split("-"))


DEAD_REASONS: dict[str, dict[str, str]] = {
    "invalid": {
        "nl": "onleesbaar of geen geldig bericht",
        "en": "unreadable or not a valid message",
    },
    "max_deliveries": {
        "nl": "te vaak geprobeerd, steeds mislukt",
        "en": "tried too often, failed each time",
    },
    "unknown_subject": {"nl": "onbekend soort bericht", "en": "unknown kind of message"},
}
SERVICES: dict[str, dict[str, str]] = {
    "intake": {"nl": "aanmelding (intake)", "en": "intake"},
    "routing": {"nl": "doorsturen (routing)", "en": "routing"},
    "notify": {"nl": "berichten (notify)", "en": "notify"},
    "audit": {"nl": "logboek (audit)", "en": "audit"},
}


def dead_reason(reason: str | None, lang: str) -> str:
    """Why a consumer gave up, in words: "invalid:validationerror" -> "onleesbaar ..."."""
    if not reason:
        return ""
    head = reason.split(":", 1)[0]
    pair = DEAD_REASONS.get(head)
    return _pick(pair, lang) if pair else _pick(OTHER, lang).format(code=reason)


def consumer_label(durable: str | None, lang: str) -> str:
    """A consumer's durable name in words: "routing-question-received-v1" -> the service and what
    it was handling."""
    if not durable:
        return ""
    service, _, rest = durable.partition("-")
    subject = rest.rsplit("-", 1)[0].replace("-", ".") + ".v" + rest.rsplit("-v", 1)[-1]
    who = _pick(SERVICES[service], lang) if service in SERVICES else service
    what = TYPES.get(subject)
    return f"{who}: {_pick(what, lang).lower()}" if what else who
