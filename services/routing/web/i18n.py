"""The one catalogue of the contact person's pages (overview, group self-service) in Dutch and English.

The language comes from the link: notify adds the contact's language as `?lang=`; the switch link
on the page sets `?lang=` too; without it, the browser's (opendeur.web's `Lang`). Staff pages stay
Dutch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from opendeur import catalogue

Lang = Literal["nl", "en"]
LANGS: tuple[Lang, ...] = ("nl", "en")
DEFAULT: Lang = "nl"

WEEKDAYS: dict[Lang, tuple[str, ...]] = {
    "nl": ("maandag", "dinsdag", "woensdag", "donderdag", "vrijdag", "zaterdag", "zondag"),
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
}

CATALOGUE: dict[str, dict[Lang, str]] = {
    # the switch to the other language, written in that language
    "switch_label": {"nl": "English", "en": "Nederlands"},
    "switch_lang": {"nl": "en", "en": "nl"},
    # the contact's overview
    "overview_title": {"nl": "Mijn overzicht", "en": "My overview"},
    "contact_of": {"nl": "Contactpersoon van", "en": "Contact person for"},
    "error_intro": {"nl": "Er ging iets mis:", "en": "Something went wrong:"},
    "waiting_heading": {
        "nl": "Mensen die op je telefoontje wachten",
        "en": "People waiting for your call",
    },
    "priority": {"nl": "(voorrang)", "en": "(priority)"},
    "received": {"nl": "Binnengekomen:", "en": "Received:"},
    "due": {"nl": "Terugbellen:", "en": "Call back:"},
    "late": {
        "nl": "— te laat, bel zo snel mogelijk",
        "en": "— late, please call as soon as you can",
    },
    "callbacks_hint": {
        "nl": "Klik op een nummer om het telefoonnummer te zien en te noteren hoe het ging. "
        "Tijden zijn Nederlandse tijd.",
        "en": "Click a reference to see the phone number and to record how it went. "
        "Times are Dutch time.",
    },
    "callbacks_pin_hint": {
        "nl": "Een nummer hier opent de vraag alleen als je een pincode hebt ingesteld (zie "
        "onderaan). Zonder pincode: gebruik de link in de mail over die vraag.",
        "en": "A reference here opens the question only once you have set a PIN (see below). "
        "Without a PIN: use the link in the mail about that question.",
    },
    "nobody_waiting": {
        "nl": "Er wacht nu niemand op je telefoontje.",
        "en": "Nobody is waiting for your call right now.",
    },
    "no_topic": {"nl": "geen onderwerp", "en": "no topic"},
    "capacity_heading": {"nl": "Hoeveel vragen tegelijk?", "en": "How many questions at once?"},
    "capacity_text": {
        "nl": "Zoveel mensen mogen tegelijk op jouw telefoontje wachten. Zet het op 0 als je "
        "even niemand kunt bellen. Een lager getal stopt alleen nieuwe vragen; wie al wacht, "
        "blijft op je lijst.",
        "en": "This many people may wait for your call at the same time. Set it to 0 when you "
        "cannot call anyone for a while. A lower number only stops new questions; whoever is "
        "already waiting stays on your list.",
    },
    "capacity_label": {"nl": "Aantal (0 tot en met {max})", "en": "Number (0 to {max})"},
    "capacity_save": {"nl": "Aantal opslaan", "en": "Save number"},
    "hours_heading": {"nl": "Wanneer kun je bellen?", "en": "When can you call?"},
    "hours_text": {
        "nl": "Vul per dag in van hoe laat tot hoe laat je kunt bellen. Laat je alles leeg, "
        "dan kun je altijd gebeld worden.",
        "en": "Fill in, per day, from what time until what time you can call. If you leave it "
        "all empty, any time is fine.",
    },
    "from": {"nl": "van", "en": "from"},
    "until": {"nl": "tot", "en": "until"},
    "hours_save": {"nl": "Beltijden opslaan", "en": "Save call hours"},
    "group_heading": {"nl": "Je groep", "en": "Your group"},
    "status": {"nl": "Status:", "en": "Status:"},
    "status_active": {
        "nl": "actief — de groep krijgt nieuwe vragen",
        "en": "active — the group receives new questions",
    },
    "status_paused": {
        "nl": "gepauzeerd — de groep krijgt even geen nieuwe vragen",
        "en": "paused — the group receives no new questions for now",
    },
    "pause_group": {"nl": "Groep pauzeren", "en": "Pause the group"},
    "personal_page": {
        "nl": "Deze pagina is persoonlijk; stuur de link niet door.",
        "en": "This page is personal; do not forward the link.",
    },
    # confirmations after a save
    "saved_capacity": {"nl": "Je aantal is opgeslagen.", "en": "Your number has been saved."},
    "saved_hours": {
        "nl": "Je beltijden zijn opgeslagen.",
        "en": "Your call hours have been saved.",
    },
    "saved_paused": {
        "nl": "Je groep staat op pauze: er komen even geen nieuwe vragen.",
        "en": "Your group is paused: no new questions for now.",
    },
    "saved_resumed": {
        "nl": "Je groep krijgt weer nieuwe vragen.",
        "en": "Your group receives new questions again.",
    },
    # form errors
    "capacity_not_a_number": {
        "nl": "Vul een heel getal in, van 0 tot en met {max}.",
        "en": "Enter a whole number, from 0 to {max}.",
    },
    "capacity_out_of_range": {
        "nl": "Kies een aantal van 0 tot en met {max}.",
        "en": "Choose a number from 0 to {max}.",
    },
    "hours_both": {
        "nl": "Vul voor {day} allebei de tijden in, of geen van beide.",
        "en": "Fill in both times for {day}, or neither.",
    },
    "hours_format": {
        "nl": "Schrijf de tijden voor {day} als uu:mm, bijvoorbeeld 18:00.",
        "en": "Write the times for {day} as hh:mm, for example 18:00.",
    },
    "hours_order": {
        "nl": "Op {day} moet 'tot' later zijn dan 'van'.",
        "en": "On {day}, 'until' must be later than 'from'.",
    },
    "action_not_now": {
        "nl": "Dit kan nu niet; laad de pagina opnieuw.",
        "en": "This is not possible now; reload the page.",
    },
    # messages instead of a page
    "link_dead": {
        "nl": "Deze link werkt niet (meer).",
        "en": "This link does not work (any more).",
    },
    "link_dead_body": {
        "nl": "Gebruik de link 'Mijn overzicht' uit je nieuwste mail van het netwerk.",
        "en": "Use the 'My overview' link in your latest message from the network.",
    },
    "contact_not_found": {
        "nl": "Je gegevens zijn niet gevonden.",
        "en": "Your details were not found.",
    },
    "form_expired": {"nl": "Dit formulier is verlopen.", "en": "This form has expired."},
    "form_expired_body": {
        "nl": "Open je overzicht opnieuw en probeer het nog eens.",
        "en": "Open your overview again and try once more.",
    },
    "group_not_found": {"nl": "Deze groep is niet gevonden.", "en": "This group was not found."},
    # the group's self-service page (the pause link)
    "group_status_active": {
        "nl": "actief: de groep krijgt vragen",
        "en": "active: the group receives questions",
    },
    "group_status_paused": {
        "nl": "gepauzeerd: de groep krijgt even geen vragen",
        "en": "paused: the group receives no questions for now",
    },
    "group_status_left": {"nl": "uit het netwerk", "en": "left the network"},
    "group_pause": {"nl": "Pauzeren", "en": "Pause"},
    "group_resume": {"nl": "Weer vragen ontvangen", "en": "Receive questions again"},
    "group_leave": {"nl": "Uit het netwerk gaan", "en": "Leave the network"},
    "leave_title": {
        "nl": "Wil je met je groep uit het netwerk gaan?",
        "en": "Do you want your group to leave the network?",
    },
    "leave_body": {
        "nl": "Je groep krijgt dan geen vragen meer en staat niet meer in de lijst van groepen. "
        "Wie nu op je telefoontje wacht, wordt door het netwerkteam verder geholpen. Wil je "
        "alleen even geen vragen? Kies dan liever Pauzeren.",
        "en": "Your group then receives no more questions and is no longer listed. Anyone "
        "waiting for your call now is helped further by the network team. Only want a break "
        "from questions? Then choose Pause instead.",
    },
    "leave_confirm": {"nl": "Ja, uit het netwerk gaan", "en": "Yes, leave the network"},
    "leave_cancel": {"nl": "Nee, terug", "en": "No, go back"},
    "left_come_back": {
        "nl": "Wil je later weer meedoen? Neem dan contact op met het netwerkteam; zij zetten je "
        "groep weer aan.",
        "en": "Want to join again later? Please contact the network team; they switch your "
        "group back on.",
    },
    "left_come_back_email": {
        "nl": "Wil je later weer meedoen? Mail het netwerkteam ({email}); zij zetten je groep "
        "weer aan.",
        "en": "Want to join again later? Email the network team ({email}); they switch your "
        "group back on.",
    },
    "left_come_back_via": {
        "nl": "Wil je later weer meedoen? Neem contact op met het netwerkteam: {via}. Zij zetten "
        "je groep weer aan.",
        "en": "Want to join again later? Contact the network team: {via}. They switch your group "
        "back on.",
    },
    "or": {"nl": " of ", "en": " or "},
    "leave_heading": {"nl": "Stoppen met het netwerk", "en": "Stopping with the network"},
    "leave_intro": {
        "nl": "Wil je met je groep helemaal stoppen? Dat kan. We vragen het je eerst nog een keer.",
        "en": "Do you want your group to stop altogether? You can. We will ask you once more "
        "first.",
    },
    "group_leave_start": {"nl": "Uit het netwerk gaan…", "en": "Leave the network…"},
    "link_expired": {"nl": "Deze link is verlopen.", "en": "This link has expired."},
    # a question the contact did not reach yet
    "attempts": {
        "nl": "Niet bereikt: {n} van de {max} keer.",
        "en": "Not reached: {n} of {max} times.",
    },
    "attempts_when": {"nl": "Geprobeerd:", "en": "Tried:"},
    "try_again": {
        "nl": "Probeer het nog eens. Lukt het de {max}e keer niet, dan neemt het netwerkteam het "
        "over.",
        "en": "Please try again. If the {nth} try does not work either, the network team takes "
        "over.",
    },
    "personal_link": {
        "nl": "Deze link is persoonlijk; stuur hem niet door.",
        "en": "This link is personal; do not forward it.",
    },
}


def pick(*candidates: object) -> Lang:
    return catalogue.pick(*candidates)  # type: ignore[return-value]


def translator(lang: Lang) -> Callable[..., str]:
    return catalogue.translator(CATALOGUE, lang)


def missing() -> dict[str, set[str]]:
    """Keys without a text in one of the languages (a test keeps this empty)."""
    return catalogue.missing(CATALOGUE)
