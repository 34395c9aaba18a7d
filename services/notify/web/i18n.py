"""The one catalogue of notify's pages (the coordinator's contacts page, the confirmation page):
Dutch first (B1), plain English beside it. `?lang=en` or the browser's language picks English."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from opendeur import catalogue

Lang = Literal["nl", "en"]

CATALOGUE: dict[str, dict[Lang, str]] = {
    "site": {"nl": "Zelfhulp Netwerk", "en": "Self-help Network"},
    "switch_label": {"nl": "English", "en": "Nederlands"},
    "switch_lang": {"nl": "en", "en": "nl"},
    "skip": {"nl": "Naar de inhoud", "en": "Skip to content"},
    # the coordinator's page
    "contacts_title": {"nl": "Contactpersonen", "en": "Contact persons"},
    "contacts_intro": {
        "nl": "Hier zie je waar elke contactpersoon de vragen van haar groep krijgt. Adressen "
        "zie je maar half: genoeg om ze te herkennen.",
        "en": "This is where each contact person receives her group's questions. You see "
        "addresses only in part: enough to recognise them.",
    },
    "how_change": {
        "nl": "Een nieuw adres werkt pas als de contactpersoon het bevestigt via de link die "
        "ze op dat nieuwe adres krijgt. Het oude adres krijgt een bericht dat het adres wordt "
        "gewijzigd. Tot de bevestiging gaan vragen nog naar het oude adres.",
        "en": "A new address only works once the contact person confirms it through the link "
        "sent to that new address. The old address is told that the address is being "
        "changed. Until it is confirmed, questions still go to the old address.",
    },
    "no_contacts": {
        "nl": "Er zijn nog geen contactpersonen.",
        "en": "There are no contact persons yet.",
    },
    "group": {"nl": "Groep", "en": "Group"},
    "no_group": {"nl": "geen groep", "en": "no group"},
    "left": {"nl": "(uit de groep)", "en": "(left the group)"},
    "email": {"nl": "E-mail", "en": "E-mail"},
    "mobile": {"nl": "Mobiel nummer", "en": "Mobile number"},
    "none": {"nl": "geen", "en": "none"},
    "channel": {"nl": "Krijgt vragen via", "en": "Receives questions by"},
    "channel_email": {"nl": "e-mail", "en": "e-mail"},
    "channel_sms": {"nl": "sms", "en": "text message (SMS)"},
    "language": {"nl": "Taal van berichten", "en": "Language of messages"},
    "lang_nl": {"nl": "Nederlands", "en": "Dutch"},
    "lang_en": {"nl": "Engels", "en": "English"},
    "pending_heading": {"nl": "Wacht op bevestiging", "en": "Waiting for confirmation"},
    "pending_text": {
        "nl": "Nieuw adres: {address}. Gevraagd {asked}. De link werkt tot {until}.",
        "en": "New address: {address}. Asked {asked}. The link works until {until}.",
    },
    "mail_failed": {
        "nl": "Het bevestigingsbericht kon niet worden verstuurd. Controleer het nieuwe adres "
        "en vraag de wijziging opnieuw aan.",
        "en": "The confirmation message could not be sent. Check the new address and ask for "
        "the change again.",
    },
    "change": {"nl": "Adres wijzigen", "en": "Change address"},
    "change_for": {"nl": "Adres wijzigen voor {who}", "en": "Change address for {who}"},
    "email_hint": {"nl": "Bijvoorbeeld naam@voorbeeld.nl", "en": "For example name@example.org"},
    "mobile_hint": {
        "nl": "Alleen nodig voor sms. Bijvoorbeeld 06 1234 5678",
        "en": "Only needed for text messages. For example +31 6 1234 5678",
    },
    "save": {"nl": "Wijziging versturen", "en": "Send the change"},
    "done_applied": {"nl": "Opgeslagen.", "en": "Saved."},
    "done_pending": {
        "nl": "Verstuurd. Het nieuwe adres krijgt een bevestigingslink; het oude adres krijgt "
        "een bericht. Tot de bevestiging gaan vragen naar het oude adres.",
        "en": "Sent. The new address gets a confirmation link; the old address gets a "
        "message. Until it is confirmed, questions go to the old address.",
    },
    "error_intro": {"nl": "Er ging iets mis:", "en": "Something went wrong:"},
    "err_email": {
        "nl": "Vul een e-mailadres in zoals naam@voorbeeld.nl.",
        "en": "Enter an e-mail address like name@example.org.",
    },
    "err_mobile": {
        "nl": "Vul een mobiel nummer in met alleen cijfers, zoals 0612345678.",
        "en": "Enter a mobile number with digits only, like +31612345678.",
    },
    "err_need_email": {
        "nl": "Voor berichten per e-mail is een e-mailadres nodig.",
        "en": "Messages by e-mail need an e-mail address.",
    },
    "err_need_mobile": {
        "nl": "Voor berichten per sms is een mobiel nummer nodig.",
        "en": "Text messages need a mobile number.",
    },
    "err_form": {
        "nl": "Het formulier was verlopen. Probeer het nog een keer.",
        "en": "The form had expired. Please try again.",
    },
    "err_unknown": {
        "nl": "Deze contactpersoon bestaat niet (meer).",
        "en": "This contact person does not exist (any more).",
    },
    # the confirmation page (the contact person, from the link in the mail)
    "confirm_title": {"nl": "Nieuw adres bevestigen", "en": "Confirm your new address"},
    "confirm_text": {
        "nl": "Het netwerkteam wil dat je vragen van je groep voortaan hier krijgt. Klopt dat? "
        "Bevestig het dan met de knop.",
        "en": "The network team would like you to receive your group's questions here from "
        "now on. Is that right? Then confirm it with the button.",
    },
    "confirm_button": {"nl": "Ja, dit adres bevestigen", "en": "Yes, confirm this address"},
    "confirm_not_me": {
        "nl": "Verwacht je dit niet? Sluit deze pagina dan: er verandert niets.",
        "en": "Not expecting this? Just close this page: nothing changes.",
    },
    "confirmed_title": {"nl": "Adres bevestigd", "en": "Address confirmed"},
    "confirmed_text": {
        "nl": "Dank je wel. Nieuwe vragen voor je groep komen vanaf nu op dit adres.",
        "en": "Thank you. From now on, new questions for your group come to this address.",
    },
    "expired_title": {"nl": "Deze link werkt niet meer", "en": "This link no longer works"},
    "expired_text": {
        "nl": "De link is verlopen of er is daarna een nieuwe wijziging gevraagd. Je adres is "
        "niet veranderd. Vraag het netwerkteam om een nieuwe link.",
        "en": "The link has expired, or a newer change was asked for since. Your address has "
        "not changed. Ask the network team for a new link.",
    },
    "invalid_title": {"nl": "Deze link klopt niet", "en": "This link is not valid"},
    "invalid_text": {
        "nl": "Controleer of je de hele link uit het bericht hebt gebruikt.",
        "en": "Check that you used the whole link from the message.",
    },
}


def pick(*candidates: object) -> Lang:
    return catalogue.pick(*candidates)  # type: ignore[return-value]


def translator(lang: Lang) -> Callable[..., str]:
    return catalogue.translator(CATALOGUE, lang)


def missing() -> dict[str, set[str]]:
    """Keys without a text in one of the languages (a test keeps this empty)."""
    return catalogue.missing(CATALOGUE)
