"""The one catalogue of audit's pages (the operators' console, the trail, the funder report): Dutch
(B1) first, plain English second; and a readable label for every code an event carries."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from contracts.topics import catalogue as topic_catalogue
from services.audit import charts

LANGS = ("nl", "en")

CATALOGUE: dict[str, tuple[str, str]] = {
    "console_title": ("Console", "Console"),
    "console_intro": (
        "Hoe staan de vragen ervoor? Alle tijden zijn Nederlandse tijd.",
        "How are the questions doing? All times are Dutch time.",
    ),
    "queues": ("Wachtrijen", "Queues"),
    "open_count": ("open vragen", "open questions"),
    "triage_count": ("bij het team (triage)", "with the team (triage)"),
    "dead_count": ("berichten vastgelopen", "messages stuck"),
    "unknown": ("onbekend", "unknown"),
    "charts": ("De laatste weken", "The last weeks"),
    "chart_callback": ("Tijd tot terugbellen (30 dagen)", "Time to callback (30 days)"),
    "chart_weekly": (
        "Op tijd teruggebeld, per week",
        "Called back in time, per week",
    ),
    "chart_topics": ("Vragen per onderwerp (30 dagen)", "Questions per topic (30 days)"),
    "no_data": ("Nog geen gegevens", "No data yet"),
    "chart_bar_desc": (
        "Staafdiagram met {n} staven. Hoogste: {label} ({value}). {listing}.",
        "Bar chart with {n} bars. Highest: {label} ({value}). {listing}.",
    ),
    "chart_histogram_desc": (
        "{n} keer teruggebeld, verdeeld over {bins} groepen van uren. {listing}.",
        "{n} callbacks in {bins} groups of hours. {listing}.",
    ),
    "chart_line_desc": (
        "Lijn van {n} weken, van {first} tot {last}. Laatste: {latest}. Laagste: {low} "
        "({low_label}). Hoogste: {high} ({high_label}).",
        "Line of {n} weeks from {first} to {last}. Latest: {latest}. Lowest: {low} "
        "({low_label}). Highest: {high} ({high_label}).",
    ),
    "chart_target_desc": (
        " Doel {target}, gehaald in {met} van de {n} weken.",
        " Target {target}, reached in {met} of {n} weeks.",
    ),
    "chart_target": ("doel {target}", "target {target}"),
    "hours_unit": ("u", "h"),
    "open_title": ("Open vragen, de oudste eerst", "Open questions, oldest first"),
    "col_reference": ("Vraag", "Question"),
    "col_topic": ("Onderwerp", "Topic"),
    "col_age": ("Wacht al", "Waiting for"),
    "col_deadline": ("Terugbellen vóór", "Call back before"),
    "col_state": ("Stand", "State"),
    "on_time": ("op tijd", "on time"),
    "late": ("te laat", "late"),
    "in_triage": ("bij het team", "with the team"),
    "open_more": ("De {shown} oudste van {total} staan hier.", "The {shown} oldest of {total}."),
    "open_none": ("Er staan geen vragen open.", "No open questions."),
    "no_topic": ("geen onderwerp", "no topic"),
    "dead_title": ("Vastgelopen berichten", "Stuck messages"),
    "dead_intro": (
        "Een dienst kon deze berichten niet verwerken. Wat erin staat, zie je hier niet. Los eerst "
        "de oorzaak op. Vraag daarna aan om het bericht opnieuw aan te bieden: dat komt met jouw "
        "medewerkernummer in het logboek. Iemand met toegang tot de server voert het uit met de "
        "opdracht in de rij.",
        "A service could not handle these messages. What is in them is not shown here. Fix the "
        "cause first. Then ask for the message to be offered again: that goes into the trail with "
        "your staff number. Someone with access to the server carries it out with the command in "
        "the row.",
    ),
    "dead_when": ("Vastgelopen", "Stuck at"),
    "dead_consumer": ("Bij", "At"),
    "dead_reason": ("Waarom", "Why"),
    "dead_subject": ("Soort bericht", "Kind of message"),
    "tech_code": ("Code voor de technici", "Code for the engineers"),
    "dead_replay": ("Opnieuw aanbieden", "Offer again"),
    "dead_replay_button": ("Opnieuw aanbieden aanvragen", "Ask to offer it again"),
    "dead_requested": (
        "Aangevraagd {who}, {when}.",
        "Asked for {who}, {when}.",
    ),
    "dead_command": ("Uitvoeren op de server:", "Carry out on the server:"),
    "dead_more": ("De {shown} nieuwste van {total} staan hier.", "The {shown} newest of {total}."),
    "dead_unknown": (
        "De berichtendienst is nu niet bereikbaar; vastgelopen berichten zijn onbekend.",
        "The message broker cannot be reached; stuck messages are unknown.",
    ),
    "dead_none": ("Er zijn geen vastgelopen berichten.", "No stuck messages."),
    "replay_done": (
        "Vastgelopen bericht {seq}: opnieuw aanbieden is aangevraagd en staat in het logboek.",
        "Stuck message {seq}: offering it again was asked for and is in the trail.",
    ),
    "replay_gone": (
        "Er is geen vastgelopen bericht {seq} (meer).",
        "There is no stuck message {seq} (any more).",
    ),
    "replay_not_event": (
        "Vastgelopen bericht {seq} kan niet opnieuw worden aangeboden: het is geen gewoon "
        "bericht, of de inhoud is niet bewaard.",
        "Stuck message {seq} cannot be offered again: it is not an ordinary message, or its "
        "content was not kept.",
    ),
    "trail_title": ("Logboek, het nieuwste eerst", "Trail, newest first"),
    "trail_live": (
        "Nieuwe regels verschijnen vanzelf bovenaan.",
        "New lines appear at the top by themselves.",
    ),
    "filter_all": ("Alles", "Everything"),
    "filter_staff": ("Acties van medewerkers", "Actions by staff"),
    "filter_label": ("Toon", "Show"),
    "trail_none": ("Nog niets in het logboek.", "Nothing in the trail yet."),
    "col_when": ("Wanneer", "When"),
    "col_what": ("Wat", "What"),
    "col_who": ("Door", "By"),
    "col_details": ("Bijzonderheden", "Details"),
    "by_staff": ("door medewerker {staff}", "by staff member {staff}"),
    "by_contact": ("door contactpersoon {contact}", "by contact person {contact}"),
    "by_team": ("door het team", "by the team"),
    "by_machine": ("door koppeling {name} (machinetoken)", "by integration {name} (machine token)"),
    "by_cli": (
        "met een opdracht op de server (opendeur users)",
        "with a command on the server (opendeur users)",
    ),
    "by_cli_account": (
        "met een opdracht op de server (serveraccount {account})",
        "with a command on the server (server account {account})",
    ),
    "by_new_address": ("bevestigd door het nieuwe adres", "confirmed by the new address"),
    "requested_by": ("aangevraagd {who}", "asked for {who}"),
    "by_system": ("automatisch", "automatically"),
    "no_reference": (
        "vraag {short} (geen OD-nummer bekend)",
        "question {short} (no OD reference known)",
    ),
    "group": ("groep {group}", "group {group}"),
    "contact": ("contactpersoon {contact}", "contact person {contact}"),
    "account_of": ("account van medewerker {staff}", "account of staff member {staff}"),
    "account_added": ("account aangemaakt", "account added"),
    "account_disabled": ("account uitgezet", "account disabled"),
    "account_enabled": ("account weer aangezet", "account enabled again"),
    "account_roles": ("rollen gewijzigd", "roles changed"),
    "account_signin_link": ("nieuwe aanmeldlink gemaakt", "new sign-in link made"),
    "attempt": ("poging {n}", "attempt {n}"),
    "priority": ("voorrang", "priority"),
    "invalid": ("onleesbaar bericht, alleen het soort bewaard", "unreadable, only its kind kept"),
    "dead_letter_n": ("vastgelopen bericht {seq}", "stuck message {seq}"),
    "report_title": ("Maandrapport {month}", "Monthly report {month}"),
    "report_note": (
        "Aantallen van 1 tot en met 4 staan er als <5. Soms is ook een ander getal verborgen (•), "
        "zodat niemand ze kan terugrekenen. Reactietijden staan er alleen bij minstens 5 "
        "beantwoorde vragen.",
        "Counts from 1 to 4 are shown as <5. Sometimes another number is hidden too (•), so "
        "nobody can work them out. Response times are shown only with at least 5 answered "
        "questions.",
    ),
    "report_part": ("Onderdeel", "Part"),
    "report_count": ("Aantal", "Count"),
    "report_total": ("Totaal", "Total"),
    "report_month": ("Maand", "Month"),
    "report_show": ("Toon", "Show"),
    "report_csv": ("Download als CSV", "Download as CSV"),
    "bad_month": ("Kies een maand, bijvoorbeeld 2026-11.", "Choose a month, for example 2026-11."),
}

# Every event type, for people.
TYPES: dict[str, tuple[str, str]] = {
    "question.received.v1": ("Vraag binnengekomen", "Question received"),
    "question.routed.v1": ("Naar een groep gestuurd", "Sent to a group"),
    "question.unmatched.v1": ("Geen groep gevonden: naar het team", "No group found: to the team"),
    "question.escalated.v1": ("Herinnering of escalatie", "Reminder or escalation"),
    "question.closed.v1": ("Gesloten door het team", "Closed by the team"),
    "contact.notified.v1": ("Contactpersoon bericht gestuurd", "Contact person notified"),
    "notification.failed.v1": ("Bericht aan contactpersoon mislukt", "Notification failed"),
    "callback.done.v1": ("Terugbellen vastgelegd", "Callback recorded"),
    "consent.withdrawn.v1": ("Toestemming ingetrokken", "Consent withdrawn"),
    "question.erased.v1": ("Gegevens gewist", "Data erased"),
    "referral.noted.v1": ("Verwijzing geteld", "Referral counted"),
    "group.changed.v1": ("Groep gewijzigd", "Group changed"),
    "pii.accessed.v1": ("Persoonsgegevens bekeken", "Personal data viewed"),
    "pii.alerted.v1": ("Waarschuwing: veel gegevens bekeken", "Alert: much data viewed"),
    "staff.acted.v1": ("Actie van een medewerker", "Action by staff"),
}

# The codes inside events, per field, for people. A code not listed here is shown as
# "overig (code)", never bare.
CODES: dict[str, dict[str, tuple[str, str]]] = {
    "action": {
        "assign": ("vraag aan een groep gegeven", "question given to a group"),
        "close": ("vraag gesloten", "question closed"),
        "group_status": ("status van een groep gewijzigd", "group status changed"),
        "address_change": ("adreswijziging aangevraagd", "address change requested"),
        "address_confirmed": ("nieuw adres bevestigd", "new address confirmed"),
        "account_change": ("medewerkeraccount gewijzigd", "staff account changed"),
        "deadletter_replay": (
            "vastgelopen bericht opnieuw aanbieden aangevraagd",
            "asked to offer a stuck message again",
        ),
        "crisis_outcome": ("crisisvraag: uitkomst vastgelegd", "crisis question: outcome recorded"),
        "signed_out": ("afgemeld", "signed out"),
        "withdrawn_by_phone": (
            "vraag ingetrokken op verzoek van de beller",
            "question withdrawn at the caller's request",
        ),
    },
    "outcome": {
        "reached": ("bereikt", "reached"),
        "unreachable": ("niet bereikt", "not reached"),
        "wrong_group": ("verkeerde groep", "wrong group"),
        "referred_professional": (
            "doorverwezen naar professionele hulp",
            "referred to a professional",
        ),
    },
    "level": {
        "reminder": ("herinnering aan de contactpersoon", "reminder to the contact person"),
        "team": ("naar het team: de tijd dringt", "to the team: time is running out"),
        "breach": ("te laat: niet op tijd teruggebeld", "late: not called back in time"),
    },
    "reason": {
        "topic+municipality": ("groep voor dit onderwerp in de gemeente", "group in the town"),
        "topic+region": ("groep voor dit onderwerp in de regio", "group in the region"),
        "topic+online": ("online groep voor dit onderwerp", "online group for this topic"),
        "topic+municipality+after_hours": (
            "groep in de gemeente, buiten beltijden",
            "group in the town, outside call hours",
        ),
        "topic+region+after_hours": (
            "groep in de regio, buiten beltijden",
            "group in the region, outside call hours",
        ),
        "topic+online+after_hours": (
            "online groep, buiten beltijden",
            "online group, outside call hours",
        ),
        "team": ("door het team gekozen", "chosen by the team"),
        "team_assign": ("door het team gekozen", "chosen by the team"),
        "professional_help_advised": (
            "professionele hulp aangeraden: voorrang",
            "professional help advised: priority",
        ),
        "no_topic": ("geen onderwerp gekozen", "no topic chosen"),
        "no_group": ("geen groep voor dit onderwerp in de buurt", "no group for this topic nearby"),
        "all_full": ("alle passende groepen zitten vol", "every matching group is full"),
        "group_left": ("de groep is gestopt", "the group stopped"),
        "delivery_uncertain": ("onzeker of het bericht aankwam", "unsure the message arrived"),
        "replaced": ("vervangen", "replaced"),
        "handled_by_team": ("afgehandeld door het team", "handled by the team"),
        "referred_professional": ("doorverwezen naar professionele hulp", "referred"),
        "no_callback_wanted": ("wil niet meer teruggebeld worden", "no longer wants a call"),
        "duplicate": ("dubbele vraag", "duplicate question"),
        "unreachable": ("niet bereikbaar", "unreachable"),
        "withdrawn": ("ingetrokken door de vrager", "withdrawn by the person"),
        "retention": ("bewaartermijn voorbij", "retention period over"),
        "unanswered": ("niet beantwoord binnen de termijn", "not answered in time"),
    },
    "purpose": {
        "new_question": ("nieuwe vraag", "new question"),
        "question": ("nieuwe vraag", "new question"),
        "reminder": ("herinnering", "reminder"),
        "team_escalation": ("melding aan het team", "alert to the team"),
        "callback_page": ("terugbelpagina van de contactpersoon", "contact's callback page"),
        "team_callback": ("teruggebeld door het team", "called back by the team"),
    },
    "channel": {
        "web": ("website", "web"),
        "phone": ("telefoon", "phone"),
        "email": ("e-mail", "e-mail"),
        "sms": ("sms", "text message"),
    },
    "change": {
        "joined": ("aangemeld", "joined"),
        "updated": ("bijgewerkt", "updated"),
        "paused": ("gepauzeerd", "paused"),
        "resumed": ("weer actief", "active again"),
        "left": ("gestopt", "left"),
    },
    "referrer_kind": {
        "professional": ("een hulpverlener", "a professional"),
        "family": ("familie", "family"),
        "other": ("iemand anders", "someone else"),
        "unknown": ("onbekend", "unknown"),
    },
    "error_code": {
        "delivery_uncertain": ("onzeker of het aankwam", "unsure it arrived"),
    },
}
OTHER = ("overig ({code})", "other ({code})")

# The funder report's tables, and the field whose labels its keys are.
REPORT_TABLES: dict[str, tuple[str, str, str | None]] = {
    "questions_by_topic": ("Vragen per onderwerp", "Questions per topic", "topic"),
    "questions_by_channel": ("Vragen per kanaal", "Questions per channel", "channel"),
    "routed_by_municipality": ("Doorgestuurd per gemeente", "Sent on per town", None),
    "outcomes": ("Uitkomsten", "Outcomes", "outcome"),
    "referrals_by_kind": ("Verwijzingen per soort", "Referrals per kind", "referrer_kind"),
    "buddy_signals_by_topic": (
        "Samen een groep starten, per onderwerp",
        "Starting a group together, per topic",
        "topic",
    ),
    "answered_by_topic": ("Beantwoord per onderwerp", "Answered per topic", "topic"),
    "response_times": ("Reactietijden", "Response times", None),
    "median_callback_by_topic": (
        "Middelste tijd tot terugbellen, per onderwerp (uren:minuten:seconden)",
        "Median time to callback, per topic (hours:minutes:seconds)",
        "topic",
    ),
}
REPORT_KEYS: dict[str, tuple[str, str]] = {
    "total": ("Totaal", "Total"),
    "unknown": ("onbekend", "unknown"),
    "median_callback": (
        "Middelste tijd tot terugbellen (uren:minuten:seconden)",
        "Median time to callback (hours:minutes:seconds)",
    ),
    "within_deadline": ("Op tijd teruggebeld", "Called back in time"),
}


def _pick(pair: tuple[str, str], lang: str) -> str:
    return pair[1] if lang == "en" else pair[0]


def translator(lang: str) -> Callable[..., str]:
    """`t("key", name=value)`: the text in `lang`, with {name} filled in."""

    def t(key: str, **values: Any) -> str:
        text = _pick(CATALOGUE[key], lang)
        return text.format(**values) if values else text

    return t


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


LANGUAGE_NAMES = {"nl": ("Nederlands", "Dutch"), "en": ("Engels", "English")}


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
            name = _pick(LANGUAGE_NAMES.get(asked, (asked, asked)), lang)
            words.append(
                f"in het Nederlands: niemand vrij die {name} spreekt"
                if lang != "en"
                else f"in Dutch: nobody free who speaks {name}"
            )
        elif part.startswith("in_"):
            name = _pick(LANGUAGE_NAMES.get(part[3:], (part[3:], part[3:])), lang)
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
        "q": "?lang=en" if lang == "en" else "",
    }


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
    return names[1] if lang == "en" else names[0]


def report_key(table: str, key: str, lang: str) -> str:
    """A row of the report in words: a topic's, channel's or outcome's label, a town's name."""
    if key in REPORT_KEYS:
        return _pick(REPORT_KEYS[key], lang)
    field = REPORT_TABLES.get(table, ("", "", None))[2]
    if field == "topic":
        return topic_label(key, lang)
    if field is not None:
        return code_label(field, key, lang)
    # A municipality code: "s-hertogenbosch", "nuenen-gerwen-en-nederwetten".
    return " ".join(w if w in ("en", "de", "van") else w.capitalize() for w in key.split("-"))


DEAD_REASONS: dict[str, tuple[str, str]] = {
    "invalid": ("onleesbaar of geen geldig bericht", "unreadable or not a valid message"),
    "max_deliveries": ("te vaak geprobeerd, steeds mislukt", "tried too often, failed each time"),
    "unknown_subject": ("onbekend soort bericht", "unknown kind of message"),
}
SERVICES: dict[str, tuple[str, str]] = {
    "intake": ("aanmelding (intake)", "intake"),
    "routing": ("doorsturen (routing)", "routing"),
    "notify": ("berichten (notify)", "notify"),
    "audit": ("logboek (audit)", "audit"),
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
