"""The one message catalogue of intake's pages (Dutch first, English second)."""

from __future__ import annotations

import re

from markupsafe import Markup, escape

from opendeur.settings import get_settings
from services.intake import validation

# The network's own phone line (OPENDEUR_NETWORK_PHONE): on the 429 page and the phone console.
# Empty when not configured: no page may print a made-up number.
NETWORK_PHONE = get_settings().network_phone or ""

CATALOGUE: dict[str, tuple[str, str]] = {
    "site": ("Zelfhulp Netwerk", "Self-help Network"),
    "crisis": (
        "Denk je aan zelfdoding? Bel 0800-0113 of chat via 113.nl (gratis, anoniem, dag en nacht). "
        "Direct gevaar? Bel 112. Je kunt ook altijd je huisarts bellen.",
        "Thinking about suicide? Call 0800-0113 or chat at 113.nl (free, anonymous, day and night). "
        "Immediate danger? Call 112. You can always call your GP too.",
    ),
    "title": ("Stel je vraag aan een zelfhulpgroep", "Ask a self-help group your question"),
    "intro": (
        "Iemand van een zelfhulpgroep belt je terug, meestal binnen {hours} uur. Dat is iemand "
        "die zelf ervaring heeft, geen hulpverlener.",
        "Someone from a self-help group calls you back, usually within {hours} hours. That is "
        "someone with experience of their own, not a professional. We look for someone who "
        "speaks English; if there is no one, a Dutch-speaking contact person calls you.",
    ),
    "for_self": ("Is deze vraag voor jezelf?", "Is this question for yourself?"),
    "for_self_hint": (
        "Een groep belt alleen iemand die daar zelf om vraagt. Vraag je voor iemand anders? Dan "
        "hoef je verder niets in te vullen: lees wat je wel kunt doen.",
        "A group only calls someone who asks for it themselves. Asking for someone else? Then "
        "you need not fill in anything else: read what you can do.",
    ),
    "for_other_link": ("Ik vraag voor iemand anders", "I am asking for someone else"),
    "yes": ("Ja, voor mezelf", "Yes, for myself"),
    "no": ("Nee, voor iemand anders", "No, for someone else"),
    "topic": ("Waar wil je over praten?", "What would you like to talk about?"),
    "topic_unknown": ("Weet ik niet / in mijn eigen woorden", "I don't know / in my own words"),
    "story": ("Je verhaal (mag je leeg laten)", "Your story (you may leave this empty)"),
    "story_hint": (
        "Alleen de contactpersoon die je terugbelt leest dit. Schrijf niet meer dan je wilt.",
        "Only the contact person who calls you back reads this. Write no more than you want to.",
    ),
    "phone": ("Je telefoonnummer", "Your phone number"),
    "call_times": (
        "Wanneer kunnen we je bellen? (mag je leeg laten)",
        "When can we call you? (optional)",
    ),
    "postcode": ("Je postcode (mag je leeg laten)", "Your postcode (optional)"),
    "postcode_hint": (
        "Alleen de cijfers worden gebruikt, om een groep bij jou in de buurt te vinden.",
        "Only the digits are used, to find a group near you.",
    ),
    "consent": ("Toestemming", "Consent"),
    "statistics": (
        "Mijn vraag mag zonder naam en nummer meetellen in de cijfers van het netwerk.",
        "My question may count, without name or number, in the network's statistics.",
    ),
    "start_group": (
        "Is er geen groep bij mij in de buurt? Dan help ik graag mee er een te beginnen.",
        "Is there no group near me? Then I would like to help start one.",
    ),
    "send": ("Verstuur mijn vraag", "Send my question"),
    "unavailable": (
        "Het lukt ons op dit moment niet om je vraag op te slaan. Wat je schreef staat er nog: "
        "probeer het over een minuut opnieuw. Is het dringend? Bel 0800-0113 (113, dag en nacht) "
        "of bij direct gevaar 112.",
        "We cannot save your question right now. What you wrote is still here: please try again "
        "in a minute. Is it urgent? Call 0800-0113 (113, day and night) or 112 in immediate "
        "danger.",
    ),
    "unavailable_title": ("Dat lukte nu even niet", "That did not work just now"),
    "errors_title": (
        "Er ging iets mis. Kijk naar de velden hieronder.",
        "Something is not right. Please look at the fields below.",
    ),
    "thanks_title": (
        "Dank je wel. Je vraag is ontvangen.",
        "Thank you. Your question has arrived.",
    ),
    "reference": ("Je kenmerk", "Your reference"),
    "next": (
        "Een contactpersoon van een zelfhulpgroep belt je, {deadline}. Het nummer kan onbekend "
        "voor je zijn.",
        "A contact person of a self-help group will call you, {deadline}. The number may be one "
        "you do not know.",
    ),
    "next_unmatched": (
        "Is er geen groep die je kan bellen? Dan neemt het netwerkteam je vraag over.",
        "If no group can call you, the network team takes over your question.",
    ),
    "next_language": (
        "Je vroeg in het Engels. We zoeken een contactpersoon die Engels spreekt. Is die er niet, "
        "dan belt een Nederlandstalige contactpersoon je; die weet dat je liever Engels spreekt.",
        "You asked in English. We look for a contact person who speaks English. If there is no "
        "one, a Dutch-speaking contact person calls you; they know you prefer English, and you can "
        "ask them to speak slowly.",
    ),
    "next_language_crisis": (
        "Je vroeg in het Engels. Het netwerkteam weet dat je liever Engels spreekt.",
        "You asked in English. The network team knows you prefer English.",
    ),
    "next_crisis": (
        "Iemand van het netwerkteam belt je, {deadline}. Dat is iemand van het netwerk zelf, "
        "niet van een groep. Het nummer kan onbekend voor je zijn. Wacht daar niet op als het nu "
        "niet gaat: bel 113 (0800-0113), bij direct gevaar 112, of je huisarts.",
        "Someone from the network team will call you, {deadline}. That is someone from the "
        "network itself, not from a group. The number may be one you do not know. Do not wait "
        "for that if you are not coping now: call 113 (0800-0113), 112 in immediate danger, or "
        "your GP.",
    ),
    "advice": (
        "Je schreef iets waar we ons zorgen over maken. Denk je aan zelfdoding? Bel of chat nu "
        "gratis en anoniem met 113 Zelfmoordpreventie: 0800-0113 of 113.nl. Is er direct gevaar? "
        "Bel 112. Je kunt ook je huisarts bellen (buiten kantoortijd de huisartsenpost). Een "
        "zelfhulpgroep vervangt geen professionele hulp.",
        "You wrote something we are worried about. Are you thinking about suicide? Call or chat "
        "now, free and anonymous, with 113 Suicide Prevention: 0800-0113 or 113.nl. In immediate "
        "danger? Call 112. You can also call your GP (out of hours: the GP emergency service). A "
        "self-help group does not replace professional help.",
    ),
    "thanks_once": (
        "Om je privacy te beschermen laten we je kenmerk en de link om je vraag in te trekken maar "
        "één keer zien.",
        "To protect your privacy we show your reference and the link to withdraw your question "
        "only once.",
    ),
    "withdraw_call": (
        "Wil je je vraag intrekken en heb je de link niet meer? Bel het netwerk: {phone}.",
        "Want to withdraw your question and no longer have the link? Call the network: {phone}.",
    ),
    "quick_exit": ("Snel weg", "Quick exit"),
    "quick_exit_hint": (
        "Snel weg: klik op de knop of druk twee keer op Esc. Je gaat dan naar een andere website.",
        "Quick exit: click the button or press Esc twice. You go to another website.",
    ),
    "withdraw_hint": (
        "Wil je je vraag intrekken? Bewaar deze link; daarmee wissen we je gegevens meteen:",
        "Want to withdraw your question? Keep this link; it erases your data at once:",
    ),
    "withdraw": ("Vraag intrekken", "Withdraw my question"),
    "withdraw_confirm": (
        "Trek je je vraag in, dan wissen we je telefoonnummer en je verhaal meteen. Niemand belt "
        "je dan terug. Je kunt later altijd een nieuwe vraag stellen.",
        "If you withdraw your question, we erase your phone number and your story at once. "
        "Nobody will call you back then. You can always ask a new question later.",
    ),
    "withdrawn": (
        "Je vraag is ingetrokken en je gegevens zijn gewist.",
        "Your question was withdrawn and your data erased.",
    ),
    "not_found": ("Deze link werkt niet (meer).", "This link does not work (any more)."),
    "consent_required": (
        "Zonder deze toestemming kan niemand je terugbellen.",
        "Without this permission nobody can call you back.",
    ),
    "must_self_contact": (
        "We helpen alleen als iemand zelf contact zoekt. Stuur de persoon de link naar ons formulier.",
        "We can only help when people contact us themselves. Send them the link to our form.",
    ),
    "lang_switch": ("English", "Nederlands"),
    "skip": ("Naar de inhoud", "Skip to content"),
    "crisis_label": ("Crisishulp", "Crisis help"),
    "errors_intro": (
        "Controleer deze {count} velden:",
        "Please check these {count} fields:",
    ),
    "errors_intro_one": ("Controleer dit veld:", "Please check this field:"),
    "error_invalid_phone": (
        "Vul een geldig telefoonnummer in, bijvoorbeeld 06 12345678 of 040 1234567.",
        "Enter a valid phone number, for example 06 12345678 or +31 40 1234567.",
    ),
    "error_invalid_postcode": (
        "Vul vier cijfers in, bijvoorbeeld 5611, of laat de postcode leeg.",
        "Enter four digits, for example 5611, or leave the postcode empty.",
    ),
    "error_story_too_long": (
        "Je verhaal is te lang: gebruik hoogstens {max} tekens.",
        "Your story is too long: use at most {max} characters.",
    ),
    "error_call_times_too_long": (
        "Houd dit kort: hoogstens {max} tekens.",
        "Keep this short: at most {max} characters.",
    ),
    "error_unknown_topic": (
        "Kies een onderwerp uit de lijst.",
        "Choose a topic from the list.",
    ),
    "error_consent_read": (
        "Lees de toestemmingstekst voor en vink dit aan.",
        "Read the consent text aloud and tick this box.",
    ),
    "advice_title": ("Lees dit eerst", "Please read this first"),
    "withdraw_keep": (
        "Bewaar deze link goed. Iedereen die hem heeft, kan je vraag intrekken.",
        "Keep this link safe. Anyone who has it can withdraw your question.",
    ),
    "referral_title": (
        "Je vraagt voor iemand anders",
        "You are asking for someone else",
    ),
    "other_why": (
        "Fijn dat je meedenkt. Een zelfhulpgroep belt alleen iemand die daar zelf om vraagt. Zo "
        "beslist die persoon zelf of, wanneer en met wie hij of zij praat. Wat je invulde is niet "
        "bewaard.",
        "Thank you for thinking along. A self-help group only calls someone who asks for it "
        "themselves. That way the person decides whether, when and with whom to talk. Nothing you "
        "filled in was kept.",
    ),
    "other_share_title": ("Stuur de persoon deze link", "Send the person this link"),
    "other_share_hint": (
        "Met deze link kan de persoon zelf een vraag stellen, wanneer het hem of haar uitkomt.",
        "With this link the person can ask a question themselves, whenever it suits them.",
    ),
    "other_share": ("Link delen", "Share link"),
    "other_copy": ("Link kopiëren", "Copy link"),
    "other_copied": ("De link is gekopieerd.", "The link has been copied."),
    "other_self_title": ("En hoe gaat het met jou?", "And how are you?"),
    "other_self": (
        "Zorgen voor iemand, of je zorgen maken om iemand, is zwaar. Er zijn ook groepen voor "
        "mantelzorgers en naasten. Daar praat je met mensen die hetzelfde meemaken.",
        "Caring for someone, or worrying about someone, is hard. There are groups for carers and "
        "family members too. There you talk with people who go through the same.",
    ),
    "other_self_link": (
        "Stel je eigen vraag over mantelzorg",
        "Ask your own question about caring for someone",
    ),
    "other_self_link_plain": ("Stel je eigen vraag", "Ask your own question"),
    "other_contact_title": ("Contact met het netwerk", "Contact the network"),
    "other_phone": ("Bel", "Call"),
    "other_email": ("Mail", "Email"),
    "rate_limited_title": ("Even geduld", "Please wait a moment"),
    "rate_limited": (
        "Er komen nu veel berichten vanaf jouw verbinding. Probeer het over een paar minuten "
        "opnieuw. Is het dringend? Bel 113 (0800-0113) of bij direct gevaar 112.",
        "Many messages are coming from your connection right now. Please try again in a few "
        "minutes. Is it urgent? Call 113 (0800-0113), or 112 in immediate danger.",
    ),
    # Callback page for contact persons.
    "cb_title": ("Terugbellen", "Call back"),
    "cb_heading": ("Bel deze persoon terug", "Please call back"),
    "cb_reference": ("Kenmerk", "Reference"),
    "cb_before": ("bel", "call"),
    "cb_priority": (
        "Er zijn crisiswoorden gevonden: verwijs zo nodig naar 113, 112 of de huisarts.",
        "Crisis words were found: refer to 113, 112 or the GP when needed.",
    ),
    "cb_prefers_en": (
        "Deze persoon stelde de vraag in het Engels en spreekt liever Engels.",
        "This person asked in English and prefers English.",
    ),
    "cb_call_times": ("Liefst gebeld", "Prefers to be called"),
    "cb_story": ("Het verhaal", "Their story"),
    "cb_no_story": (
        "Deze persoon schreef geen verhaal; vraag rustig waar het over gaat.",
        "This person wrote no story; calmly ask what it is about.",
    ),
    "cb_guide_title": ("Het gesprek", "The conversation"),
    "cb_guide": (
        "Luister eerst: laat de ander vertellen, in eigen woorden en tempo.|"
        "Vertel wie je bent: iemand met eigen ervaring, geen hulpverlener.|"
        "Beloof niet te veel: vertel wat de groep wel en niet is, en wanneer ze samenkomt.|"
        "Lijkt professionele hulp nodig? Verwijs naar de huisarts; bij gedachten aan zelfdoding "
        "naar 113 (0800-0113), bij direct gevaar 112.|"
        "De ander beslist: over meekomen, over wanneer, en over wat gedeeld wordt.",
        "Listen first: let them tell it in their own words and at their own pace.|"
        "Say who you are: someone with experience of their own, not a professional.|"
        "Do not promise too much: say what the group is and is not, and when it meets.|"
        "Does professional care seem needed? Refer to the GP (huisarts); for thoughts of suicide "
        "to 113 (0800-0113), in immediate danger 112.|"
        "They decide: whether to come, when, and what to share.",
    ),
    "cb_outcome_title": ("Hoe ging het?", "How did it go?"),
    "cb_final_confirm": (
        "Zeker weten? Het nummer en het verhaal worden daarna gewist; dat kan niet terug.",
        "Are you sure? The number and the story are erased afterwards; this cannot be undone.",
    ),
    "cb_final_yes": ("Ja: {outcome}", "Yes: {outcome}"),
    "cb_unreachable_hint": (
        "Niet bereikt? De vraag blijft van jou en je kunt het later opnieuw proberen. Na 3 keer "
        "neemt het netwerkteam het over.",
        "Could not reach them? The question stays yours and you can try again later. After 3 "
        "tries the network team takes over.",
    ),
    "cb_erase_note": (
        "Na 'Gesproken' of 'Doorverwezen' worden het nummer en het verhaal gewist.",
        "After 'We talked' or 'Referred' the number and the story are erased.",
    ),
    "outcome_reached": ("Gesproken", "We talked"),
    "outcome_unreachable": ("Niet bereikt", "Could not reach"),
    "outcome_wrong_group": ("Past niet bij onze groep", "Not for our group"),
    "outcome_referred_professional": (
        "Doorverwezen naar professionele hulp",
        "Referred to professional help",
    ),
    "choose_outcome": ("Kies een uitkomst.", "Choose an outcome."),
    "cb_invalid": ("Deze link is ongeldig of verlopen.", "This link is invalid or has expired."),
    "cb_erased": (
        "De gegevens van deze vraag zijn gewist.",
        "The data of this question has been erased.",
    ),
    "cb_moved": (
        "Deze vraag is aan een andere groep gegeven.",
        "This question was given to another group.",
    ),
    "cb_done": ("Dank je wel, dit gesprek is afgerond.", "Thank you, this callback is complete."),
    "cb_done_body": (
        "Je hoeft met deze link niets meer te doen.",
        "There is nothing more to do with this link.",
    ),
    "cb_closed": (
        "Jouw deel van deze vraag is afgerond.",
        "Your part in this question is complete.",
    ),
    "cb_expired": ("Deze link is verlopen.", "This link has expired."),
    "cb_try_again": ("Genoteerd: niet bereikt.", "Noted: could not reach them."),
    "cb_try_again_body": (
        "De vraag blijft van jou: probeer het later nog eens, deze link blijft werken. Lukt het "
        "3 keer niet, dan neemt het netwerkteam de vraag over.",
        "The question stays yours: please try again later, this link keeps working. If it does "
        "not work 3 times, the network team takes the question over.",
    ),
    "cb_pending": (
        "Deze vraag wordt nog klaargezet. Probeer het over een minuut opnieuw.",
        "This question is still being prepared. Please try again in a minute.",
    ),
    "cb_gone_body": (
        "Deze link geeft geen toegang meer tot de gegevens. Je hoeft niets te doen; heb je een "
        "vraag, neem dan contact op met het team van het netwerk.",
        "This link no longer opens the question's details. There is nothing you need to do; if "
        "you have a question, please contact the network's team.",
    ),
    # A contact person's optional PIN (services/intake/pins.py).
    "pin_enter_title": ("Je pincode", "Your PIN"),
    "pin_enter_text": (
        "Je hebt een pincode ingesteld. Vul die in om het telefoonnummer en het verhaal te zien.",
        "You have set a PIN. Enter it to see the phone number and the story.",
    ),
    "pin_label": ("Pincode (4 tot 8 cijfers)", "PIN (4 to 8 digits)"),
    "pin_repeat": ("Pincode nog een keer", "PIN once more"),
    "pin_current": ("Je huidige pincode", "Your current PIN"),
    "pin_submit": ("Verder", "Continue"),
    "pin_set_title": ("Pincode voor je terugbelpagina's", "A PIN for your callback pages"),
    "pin_set_text": (
        "Met een pincode opent een terugbellink alleen nog na je pincode. Wie een link te pakken "
        "krijgt, ziet dan niets. De pincode wordt alleen versleuteld bewaard en staat nooit in "
        "een mail.",
        "With a PIN, a callback link opens only after your PIN. Whoever gets hold of a link "
        "then sees nothing. The PIN is only kept hashed and is never in a mail.",
    ),
    "pin_set_has": (
        "Je hebt al een pincode. Vul je huidige pincode in om hem te wijzigen. Kwijt? Het team "
        "van het netwerk kan hem wissen.",
        "You already have a PIN. Enter your current PIN to change it. Lost it? The network's "
        "team can clear it.",
    ),
    "pin_set_save": ("Pincode opslaan", "Save PIN"),
    "pin_saved": ("Je pincode is opgeslagen.", "Your PIN has been saved."),
    "pin_saved_body": (
        "Terugbelpagina's vragen er voortaan om, eens per half uur.",
        "Callback pages ask for it from now on, once every half hour.",
    ),
    "pin_format": ("Een pincode is 4 tot 8 cijfers.", "A PIN is 4 to 8 digits."),
    "pin_mismatch": (
        "De twee pincodes zijn niet gelijk.",
        "The two PINs are not the same.",
    ),
    "pin_wrong": (
        "Die pincode klopt niet. Na 5 foute pogingen gaat de pincode op slot.",
        "That PIN is not right. After 5 wrong tries the PIN is locked.",
    ),
    "pin_locked": ("Je pincode is op slot.", "Your PIN is locked."),
    "pin_locked_body": (
        "Er is te vaak een foute pincode ingevuld. Neem contact op met het team van het netwerk: "
        "zij kunnen de pincode wissen.",
        "A wrong PIN was entered too often. Please contact the network's team: they can clear "
        "the PIN.",
    ),
    "cb_overview_pin": (
        "Open deze vraag met de link in de mail.",
        "Open this question with the link in the mail.",
    ),
    "cb_overview_pin_body": (
        "Een link op je overzichtspagina opent een vraag alleen als je een pincode hebt "
        "ingesteld: je overzichtslink staat in elke mail, en wie die doorgestuurd krijgt, mag "
        "de telefoonnummers niet zien. Gebruik de link in de mail over deze vraag, of stel een "
        "pincode in om vragen vanaf je overzicht te openen.",
        "A link on your overview page opens a question only once you have set a PIN: your "
        "overview link is in every mail, and whoever gets one forwarded must not see the phone "
        "numbers. Use the link in the mail about this question, or set a PIN to open questions "
        "from your overview.",
    ),
    "cb_overview_pin_link": ("Pincode instellen", "Set a PIN"),
    "cb_held": ("Deze pagina is even niet beschikbaar.", "This page is not available for now."),
    "cb_held_body": (
        "Via jouw links zijn ongewoon veel vragen geopend. Het team van het netwerk is gewaarschuwd "
        "en neemt contact met je op; tot dan opent geen nieuwe vraag.",
        "Unusually many questions were opened through your links. The network's team has been "
        "told and will contact you; until then no new question opens.",
    ),
    # Phone console for volunteers.
    "ph_title": ("Telefoonlijn", "Phone line"),
    "ph_login": ("Inloggen", "Log in"),
    "ph_name": ("Gebruikersnaam", "User name"),
    "ph_password": ("Wachtwoord", "Password"),
    "ph_login_failed": (
        "Naam of wachtwoord klopt niet.",
        "Name or password is not right.",
    ),
    "ph_login_slow": (
        "Te veel pogingen. Wacht een paar minuten.",
        "Too many attempts. Please wait a few minutes.",
    ),
    "ph_logout": ("Uitloggen", "Log out"),
    "ph_new_password": ("Kies een nieuw wachtwoord", "Choose a new password"),
    "ph_new_password_hint": (
        "Minstens {min} tekens. Je eenmalige wachtwoord werkt daarna niet meer.",
        "At least {min} characters. Your one-time password stops working afterwards.",
    ),
    "ph_password_again": ("Nieuw wachtwoord nog eens", "New password again"),
    "ph_password_short": (
        "Het wachtwoord is te kort.",
        "The password is too short.",
    ),
    "ph_password_mismatch": (
        "De twee wachtwoorden zijn niet gelijk.",
        "The two passwords are not the same.",
    ),
    "ph_save": ("Opslaan", "Save"),
    "ph_csrf": (
        "Dit formulier is verlopen. Laad de pagina opnieuw.",
        "This form has expired. Please reload the page.",
    ),
    "ph_script_title": ("Lees voor aan de beller", "Read this aloud to the caller"),
    "ph_script_intro": (
        "Zeg: “Voordat ik je vraag invoer, lees ik je voor waar je mee instemt.” Lees dan voor:",
        "Say: “Before I enter your question, I will read out what you agree to.” Then read:",
    ),
    "ph_script_after": (
        "Zeg daarna: “Aan het eind geef ik je een kenmerk. Schrijf dat op: wil je je vraag later "
        "intrekken, bel ons dan en noem je kenmerk.” Vraag dan: “Is dat goed?”",
        "Then say: “At the end I will give you a reference. Please write it down: if you want to "
        "withdraw your question later, call us and give your reference.” Then ask: “Is that all "
        "right?”",
    ),
    "ph_crisis_title": (
        "Denkt de beller aan zelfdoding, of is er gevaar?",
        "Is the caller thinking about suicide, or in danger?",
    ),
    "ph_crisis_say": (
        "Zeg rustig: “Ik hoor dat het heel zwaar is. Bel nu met 113, dat is gratis en anoniem, "
        "dag en nacht: 0800-0113, nul acht honderd, nul één één drie. Is er direct gevaar? Bel "
        "dan 112. Je kunt ook je huisarts bellen.” Vraag of de beller dat nu gaat doen. Voer de "
        "vraag daarna gewoon in, met wat de beller vertelde, en zeg: “Niet een groep, maar "
        "iemand van het netwerkteam belt je terug, {deadline}.”",
        "Say calmly: “I hear that things are very hard. Please call 113 now, free and "
        "anonymous, day and night: 0800-0113, zero eight hundred, zero one one three. In "
        "immediate danger? Call 112. You can also call your GP.” Ask whether the caller will do "
        "that now. Then enter the question as usual, with what the caller told you, and say: "
        "“Not a group, but someone from the network team will call you back, {deadline}.”",
    ),
    "ph_consent_read": (
        "Ik heb de toestemmingstekst voorgelezen.",
        "I have read the consent text aloud.",
    ),
    "ph_consent_given": (
        "De beller geeft toestemming om het nummer met één contactpersoon te delen.",
        "The caller agrees to share the number with one contact person.",
    ),
    "ph_statistics": (
        "De beller vindt het goed dat de vraag zonder naam meetelt in de cijfers.",
        "The caller agrees the question counts, without name, in the statistics.",
    ),
    "ph_for_self": ("Belt de persoon voor zichzelf?", "Is the caller asking for themselves?"),
    "ph_language": ("Taal van de beller", "Caller's language"),
    "ph_story": ("Wat vertelt de beller? (mag leeg)", "What does the caller say? (optional)"),
    "ph_phone": ("Terugbelnummer", "Number to call back"),
    "ph_start_group": (
        "De beller wil helpen een groep te beginnen als er geen is.",
        "The caller would like to help start a group if there is none.",
    ),
    "ph_send": ("Vraag invoeren", "Enter question"),
    "ph_done": ("De vraag is ingevoerd.", "The question has been entered."),
    "ph_read_reference": (
        "Lees het kenmerk voor en spel het rustig:",
        "Read the reference aloud and spell it calmly:",
    ),
    "ph_read_advice": ("Lees dit nu voor", "Read this aloud now"),
    "ph_advice_speech": (
        "Je vertelde iets waar ik me zorgen over maak. Denk je aan zelfdoding? Bel dan nu met "
        "113 Zelfmoordpreventie, gratis en anoniem, dag en nacht: 0800-0113, nul acht honderd, "
        "nul één één drie. Is er direct gevaar? Bel 112. Je kunt ook je huisarts bellen.",
        "You told me something I am worried about. Are you thinking about suicide? Please call "
        "113 Suicide Prevention now, free and anonymous, day and night: 0800-0113, zero eight "
        "hundred, zero one one three. In immediate danger? Call 112. You can also call your GP.",
    ),
    "ph_say": ("Zeg:", "Say:"),
    "ph_next_speech": (
        "Een contactpersoon van een zelfhulpgroep belt je, {deadline}. Het nummer kan onbekend "
        "voor je zijn. Lukt het niet om een groep te vinden, dan neemt het netwerkteam je vraag "
        "over.",
        "A contact person of a self-help group will call you, {deadline}. The number may be "
        "one you do not know. If no group can call you, the network team takes over your "
        "question.",
    ),
    "ph_next_crisis_speech": (
        "Niet een groep, maar iemand van het netwerkteam belt je terug, {deadline}. Het nummer "
        "kan onbekend voor je zijn. Wacht daar niet op als het nu niet gaat: bel 113, of bij "
        "direct gevaar 112.",
        "Not a group, but someone from the network team will call you back, {deadline}. The "
        "number may be one you do not know. Do not wait for that if you are not coping now: call "
        "113, or 112 in immediate danger.",
    ),
    "ph_next_language_speech": (
        "We zoeken een contactpersoon die Engels spreekt. Is die er niet, dan belt een "
        "Nederlandstalige contactpersoon je.",
        "We look for a contact person who speaks English. If there is no one, a Dutch-speaking "
        "contact person will call you.",
    ),
    "ph_withdraw_speech": (
        "Wil je je vraag intrekken? Bel ons dan opnieuw en noem je kenmerk. Dan wissen we je "
        "gegevens meteen.",
        "Want to withdraw your question? Call us again and give your reference. We then erase "
        "your data at once.",
    ),
    "ph_done_gone": (
        "Het kenmerk is al getoond. Er is geen nieuwe vraag ingevoerd.",
        "The reference was shown already. No new question was entered.",
    ),
    "ph_withdraw_title": ("Een vraag intrekken", "Withdraw a question"),
    "ph_withdraw_link": (
        "Wil een beller een vraag intrekken?",
        "Does a caller want to withdraw a question?",
    ),
    "ph_withdraw_intro": (
        "Vraag de beller om het kenmerk en het telefoonnummer van de vraag. Klopt het, dan wissen "
        "we de vraag en alle gegevens meteen. Dat kan niet terug.",
        "Ask the caller for the reference and the phone number of the question. If they match, "
        "we erase the question and all its data at once. This cannot be undone.",
    ),
    "ph_withdraw_reference": ("Kenmerk", "Reference"),
    "ph_withdraw_reference_hint": (
        "Bijvoorbeeld OD-AB3D-7KMN. Laat de beller het spellen.",
        "For example OD-AB3D-7KMN. Ask the caller to spell it.",
    ),
    "ph_withdraw_phone": ("Telefoonnummer van de vraag", "Phone number of the question"),
    "ph_withdraw_send": ("Intrekken en wissen", "Withdraw and erase"),
    "ph_withdrawn": (
        "De vraag is ingetrokken en de gegevens zijn gewist.",
        "The question was withdrawn and its data erased.",
    ),
    "ph_withdrawn_speech": (
        "Je vraag is ingetrokken en je gegevens zijn gewist. Niemand belt je hierover terug. Je "
        "kunt later altijd opnieuw bellen.",
        "Your question has been withdrawn and your data erased. Nobody will call you back about "
        "it. You can always call again later.",
    ),
    "error_reference": (
        "Vul het kenmerk in zoals het op het briefje staat, bijvoorbeeld OD-AB3D-7KMN.",
        "Enter the reference as written down, for example OD-AB3D-7KMN.",
    ),
    "error_withdraw_not_found": (
        "Geen vraag gevonden met dit kenmerk en dit nummer. Laat de beller het kenmerk spellen; "
        "misschien is de vraag al gewist.",
        "No question found with this reference and this number. Ask the caller to spell the "
        "reference; the question may be erased already.",
    ),
    "ph_referral": (
        "De beller vraagt voor iemand anders. Zeg: “Die persoon kan zelf deze telefoonlijn bellen "
        "of zelf het formulier invullen op {url}. Zo beslist die persoon zelf.” Er is niets "
        "persoonlijks opgeslagen.",
        "The caller is asking for someone else. Say: “That person can call this phone line "
        "themselves, or fill in the form at {url}. That way they decide for themselves.” "
        "Nothing personal was stored.",
    ),
    "ph_next_call": ("Volgend gesprek", "Next call"),
    "nl": ("Nederlands", "Dutch"),
    "en": ("Engels", "English"),
}

# Staff pages at intake (web/crisis.py, web/accounts.py, web/staff.py): the team's crisis
# callback and the coordinator's accounts page.
CATALOGUE.update(
    {
        "st_login_title": ("Inloggen", "Sign in"),
        "st_login_h1": ("Inloggen voor medewerkers", "Staff sign-in"),
        "st_login_intro": (
            "Eén inlog voor de telefoonconsole, triage, de beheerconsole en het rapport. Wat je "
            "ziet hangt af van je rollen.",
            "One sign-in for the phone console, triage, the operator console and the report. "
            "What you see depends on your roles.",
        ),
        "st_name": ("Gebruikersnaam", "User name"),
        "st_password": ("Wachtwoord", "Password"),
        "st_login_button": ("Inloggen", "Sign in"),
        "st_limited": ("Te veel pogingen. Wacht een minuut.", "Too many tries. Wait a minute."),
        "st_wrong": ("Naam of wachtwoord klopt niet.", "The name or password is not right."),
        "st_pw_title": ("Nieuw wachtwoord", "New password"),
        "st_pw_h1": ("Kies een nieuw wachtwoord", "Choose a new password"),
        "st_pw_hint": (
            "Minstens {min} tekens. Alleen jij kent het.",
            "At least {min} characters. Only you know it.",
        ),
        "st_pw_again": ("Nog een keer", "Once more"),
        "st_pw_save": ("Opslaan", "Save"),
        "st_pw_short": ("Kies minstens {min} tekens.", "Choose at least {min} characters."),
        "st_pw_differ": ("De twee wachtwoorden verschillen.", "The two passwords differ."),
        "st_pw_expired": ("Het formulier was verlopen.", "The form had expired."),
        "st_link_dead": ("Deze link werkt niet meer", "This link no longer works"),
        "st_link_dead_body": (
            "Een inloglink werkt één keer en verloopt na een dag.",
            "A sign-in link works once and expires after a day.",
        ),
        "st_unknown_target": ("Onbekende bestemming.", "Unknown destination."),
        "st_to_login": ("Naar de inlogpagina", "To the sign-in page"),
        "st_welcome": ("Welkom, {name}", "Welcome, {name}"),
        "st_your_roles": ("Je rollen: {roles}.", "Your roles: {roles}."),
        "st_trail_note": (
            "In het logboek staat wat je doet onder je medewerkerscode",
            "The log records what you do under your staff code",
        ),
        "st_trail_note_end": (", niet onder je naam.", ", not under your name."),
        "st_your_pages": ("Je pagina's", "Your pages"),
        "st_no_role": (
            "Je account heeft nog geen rol. Vraag de coördinator om er een.",
            "Your account has no role yet. Ask the coordinator for one.",
        ),
        "st_logout": ("Afmelden", "Sign out"),
        "st_logout_note": (
            "Afmelden (bovenaan) sluit ook je andere medewerkerspagina's: triage, crisis, "
            "contactpersonen, console en rapport.",
            "Signing out (at the top) closes your other staff pages too: triage, crisis, contact "
            "persons, console and report.",
        ),
        "st_page_phone": ("Telefoonconsole", "Phone console"),
        "st_page_crisis": ("Crisisvragen terugbellen", "Call back crisis questions"),
        "st_page_triage": ("Triage: vragen zonder groep", "Triage: questions without a group"),
        "st_page_contacts": ("Contactpersonen en hun adressen", "Contact persons and addresses"),
        "st_page_accounts": ("Medewerkers en rollen", "Staff and roles"),
        "st_page_console": ("Beheerconsole", "Operator console"),
        "st_page_report": ("Maandrapport", "Monthly report"),
        "st_skip": ("Naar de inhoud", "Skip to content"),
        "st_staff": ("medewerkers", "staff"),
        "st_other_lang": ("In English", "In het Nederlands"),
        "st_refused": ("Geen toegang", "No access"),
        "st_refused_body": (
            "Je account heeft niet de rol die voor deze pagina nodig is. Vraag de coördinator "
            "als je denkt dat dit niet klopt.",
            "Your account does not have the role this page needs. Ask the coordinator if you "
            "think this is wrong.",
        ),
        "st_home": ("Naar je overzicht", "To your overview"),
        "st_expired": (
            "Het formulier was verlopen. Probeer het nog eens.",
            "The form had expired. Please try again.",
        ),
        "cr_list_title": ("Crisisvragen terugbellen", "Call back crisis questions"),
        "cr_list_intro": (
            "Deze mensen schreven iets waar we ons zorgen over maken. Het team belt ze vandaag "
            "terug, binnen de openingstijden. Open een vraag om het nummer te zien; dat komt in "
            "het logboek, met je medewerkerscode.",
            "These people wrote something we are worried about. The team calls them back today, "
            "within opening hours. Open a question to see the number; that is logged, with your "
            "staff code.",
        ),
        "cr_none": (
            "Er zijn nu geen crisisvragen om terug te bellen.",
            "There are no crisis questions to call back right now.",
        ),
        "cr_received": ("Binnengekomen", "Received"),
        "cr_call": ("Bellen", "Call"),
        "cr_late": ("Te laat", "Overdue"),
        "cr_channel_web": ("via het formulier", "through the form"),
        "cr_channel_phone": ("via de telefoonlijn", "through the phone line"),
        "cr_no_tries": ("Nog niet gebeld", "Not called yet"),
        "cr_tries": (
            "{n} keer niet bereikt, laatst {last}",
            "Not reached {n} times, last {last}",
        ),
        "cr_open": ("Openen en bellen", "Open and call"),
        "cr_title": ("Bel {reference} terug", "Call back {reference}"),
        "cr_reference": ("Kenmerk", "Reference"),
        "cr_phone": ("Telefoonnummer", "Phone number"),
        "cr_tap": ("Tik op het nummer om te bellen.", "Tap the number to call."),
        "cr_in_english": (
            "Deze persoon schreef in het Engels; bel zo mogelijk in het Engels.",
            "This person wrote in English; call in English if you can.",
        ),
        "cr_no_consent": (
            "Deze persoon gaf geen toestemming om het verhaal te delen.",
            "This person did not agree to share their story.",
        ),
        "cr_guide_title": ("Zo voer je het gesprek", "How to have the call"),
        "cr_guide": (
            "Stel je voor: je voornaam, en dat je van het netwerkteam van {network} belt over de "
            "vraag die hij of zij stuurde.|"
            "Vraag rustig hoe het nu gaat. Luister, laat stiltes toe en oordeel niet.|"
            "Vraag gewoon of de ander aan zelfdoding denkt. Ernaar vragen maakt het niet erger.|"
            "Direct gevaar? Bel 112, of laat de ander bellen, en blijf aan de lijn.|"
            "Gedachten aan zelfdoding? Noem 113 Zelfmoordpreventie: 0800-0113 of 113.nl, gratis "
            "en dag en nacht. Bied aan om samen te bellen.|"
            "Zorgen, maar geen direct gevaar? Raad de huisarts aan; buiten kantoortijd de "
            "huisartsenpost.|"
            "Spreek af wat er nu gebeurt. Noteer daarna hieronder hoe het ging.",
            "Introduce yourself: your first name, and that you call from the network team of "
            "{network} about the question they sent.|"
            "Calmly ask how they are doing now. Listen, allow silences and do not judge.|"
            "Simply ask whether they are thinking about suicide. Asking does not make it worse.|"
            "Immediate danger? Call 112, or have them call, and stay on the line.|"
            "Thoughts of suicide? Mention 113 Suicide Prevention: 0800-0113 or 113.nl, free, day "
            "and night. Offer to call together.|"
            "Worried, but no immediate danger? Suggest their GP (huisarts); out of hours the GP "
            "service (huisartsenpost).|"
            "Agree on what happens next. Then record below how it went.",
        ),
        "cr_tries_title": ("Eerdere pogingen", "Earlier tries"),
        "cr_try": ("{at}: {outcome} (medewerker {staff})", "{at}: {outcome} (staff {staff})"),
        "cr_outcome_title": ("Hoe ging het?", "How did it go?"),
        "cr_unreachable_hint": (
            "Niet bereikt? De vraag blijft op de lijst, met deze poging erbij. Probeer het later "
            "nog eens. Spreek alleen in dat het netwerk terugbelt, niet waarover.",
            "Could not reach them? The question stays on the list, with this try added. Try "
            "again later. On voicemail only say that the network will call back, not what about.",
        ),
        "cr_erase_note": (
            "Na 'Bereikt' of 'Doorverwezen' is de vraag klaar en worden het nummer en het "
            "verhaal gewist.",
            "After 'Reached' or 'Referred' the question is done and the number and the story "
            "are erased.",
        ),
        "cr_outcome_reached": ("Bereikt", "Reached"),
        "cr_outcome_unreachable": ("Niet bereikt: later opnieuw", "Not reached: try again later"),
        "cr_outcome_referred_professional": (
            "Doorverwezen naar professionele hulp",
            "Referred to professional help",
        ),
        "cr_tried_unreachable": ("niet bereikt", "not reached"),
        "cr_tried_reached": ("bereikt", "reached"),
        "cr_tried_referred_professional": ("doorverwezen", "referred"),
        "cr_final_confirm": (
            "Zeker weten? De vraag is dan klaar. Het nummer en het verhaal worden gewist; dat "
            "kan niet terug.",
            "Are you sure? The question is then done. The number and the story are erased; "
            "this cannot be undone.",
        ),
        "cr_final_yes": ("Ja: {outcome}", "Yes: {outcome}"),
        "cr_saved_unreachable": (
            "Genoteerd: niet bereikt. De vraag blijft op de lijst; probeer het later opnieuw.",
            "Noted: not reached. The question stays on the list; try again later.",
        ),
        "cr_saved_final": (
            "Genoteerd voor {reference}: {outcome}. Het nummer en het verhaal worden gewist.",
            "Noted for {reference}: {outcome}. The number and the story are erased.",
        ),
        "cr_choose": ("Kies hoe het ging.", "Choose how it went."),
        "cr_gone": ("Deze vraag is er niet (meer)", "This question is not (or no longer) here"),
        "cr_gone_body": (
            "Het kenmerk klopt niet, of de gegevens zijn al gewist.",
            "The reference is wrong, or the data has already been erased.",
        ),
        "cr_done": ("Deze vraag is al afgehandeld", "This question has been handled"),
        "cr_done_body": (
            "Iemand van het team heeft al genoteerd hoe het ging. Er hoeft niemand meer te bellen.",
            "Someone on the team has already recorded how it went. Nobody needs to call.",
        ),
        "cr_with_contact": (
            "Deze vraag is aan een contactpersoon gegeven",
            "This question was given to a contact person",
        ),
        "cr_with_contact_body": (
            "Een contactpersoon van een groep belt terug. Het team hoeft niet meer te bellen.",
            "A contact person of a group calls back. The team need not call any more.",
        ),
        "cr_back": ("Terug naar de lijst", "Back to the list"),
        "ac_title": ("Medewerkers en rollen", "Staff and roles"),
        "ac_intro": (
            "Hier maak je accounts, geef je rollen en zet je accounts uit. Elke wijziging komt in "
            "het logboek, met je medewerkerscode.",
            "Here you add accounts, give roles and disable accounts. Every change is logged, "
            "with your staff code.",
        ),
        "ac_add": ("Account toevoegen", "Add an account"),
        "ac_name": ("Gebruikersnaam", "User name"),
        "ac_name_hint": (
            "2 tot 40 tekens: kleine letters, cijfers, punt, streepje. Bijvoorbeeld: anna.jansen",
            "2 to 40 characters: lowercase letters, digits, dot, dash. For example: anna.jansen",
        ),
        "ac_roles": ("Rollen", "Roles"),
        "ac_add_button": ("Account maken", "Create account"),
        "ac_link_shown": (
            "Account {name} is klaar. Geef deze inloglink persoonlijk door, niet in een "
            "groepsbericht. Hij werkt één keer en verloopt na 24 uur. Je ziet hem alleen nu.",
            "Account {name} is ready. Pass on this sign-in link in person, not in a group "
            "message. It works once and expires after 24 hours. You only see it now.",
        ),
        "ac_link_label": ("Inloglink voor {name}", "Sign-in link for {name}"),
        "ac_saved": ("Opgeslagen: {what}.", "Saved: {what}."),
        "ac_what_roles": ("rollen van {name}", "roles of {name}"),
        "ac_what_disable": ("{name} is uitgezet", "{name} is disabled"),
        "ac_what_enable": ("{name} kan weer inloggen", "{name} can sign in again"),
        "ac_list": ("Alle accounts", "All accounts"),
        "ac_status": ("Status", "Status"),
        "ac_active": ("Actief", "Active"),
        "ac_disabled": ("Uitgezet", "Disabled"),
        "ac_must_change": ("Moet nog een wachtwoord kiezen", "Still has to choose a password"),
        "ac_last": ("Laatst ingelogd", "Last signed in"),
        "ac_never": ("nog nooit", "never"),
        "ac_code": ("Medewerkerscode", "Staff code"),
        "ac_save_roles": ("Rollen opslaan", "Save roles"),
        "ac_roles_note": (
            "Na een wijziging van rollen of het uitzetten moet de persoon opnieuw inloggen.",
            "After a change of roles, or disabling, the person has to sign in again.",
        ),
        "ac_disable": ("Account uitzetten", "Disable account"),
        "ac_disable_confirm": (
            "Zeker weten? {name} kan dan niet meer inloggen en wordt overal uitgelogd. Je kunt "
            "het account later weer aanzetten.",
            "Are you sure? {name} can then no longer sign in and is signed out everywhere. You "
            "can enable the account again later.",
        ),
        "ac_disable_yes": ("Ja, zet {name} uit", "Yes, disable {name}"),
        "ac_enable": ("Weer aanzetten", "Enable again"),
        "ac_new_link": ("Nieuwe inloglink", "New sign-in link"),
        "ac_new_link_hint": (
            "Wachtwoord vergeten? Een nieuwe inloglink laat de persoon een nieuw wachtwoord kiezen.",
            "Forgot the password? A new sign-in link lets the person choose a new password.",
        ),
        "ac_you": ("(jij)", "(you)"),
        "ac_err_name": (
            "Kies een gebruikersnaam van 2 tot 40 tekens: kleine letters, cijfers, punt, streepje.",
            "Choose a user name of 2 to 40 characters: lowercase letters, digits, dot, dash.",
        ),
        "ac_err_exists": ("Deze gebruikersnaam bestaat al.", "This user name already exists."),
        "ac_err_role": ("Kies een rol uit de lijst.", "Choose a role from the list."),
        "ac_err_no_role": ("Kies minstens één rol.", "Choose at least one role."),
        "ac_err_unknown": ("Dit account bestaat niet.", "This account does not exist."),
        "ac_err_last_coordinator": (
            "Dan is er geen coördinator meer die accounts kan beheren. Geef eerst iemand anders "
            "de rol coördinator.",
            "Then no coordinator is left to manage accounts. First give someone else the "
            "coordinator role.",
        ),
        "ac_err_self": (
            "Je kunt je eigen account niet uitzetten.",
            "You cannot disable your own account.",
        ),
        "ac_err_invalid": ("Dit kon niet worden opgeslagen.", "This could not be saved."),
        "role_telefoonvrijwilliger": ("Telefoonvrijwilliger", "Phone volunteer"),
        "role_teamlid": ("Teamlid", "Team member"),
        "role_coordinator": ("Coördinator", "Coordinator"),
        "role_beheerder": ("Beheerder", "Operator"),
        "role_rapportage": ("Rapportage", "Reports"),
        "role_telefoonvrijwilliger_hint": ("telefoonconsole", "phone console"),
        "role_teamlid_hint": ("triage, crisisvragen terugbellen", "triage, crisis callbacks"),
        "role_coordinator_hint": (
            "groepen, adressen, accounts",
            "groups, addresses, accounts",
        ),
        "role_beheerder_hint": ("console, logboek, dead letters", "console, trail, dead letters"),
        "role_rapportage_hint": ("alleen het maandrapport", "the monthly report only"),
    }
)


def t(key: str, lang: str, **kw: object) -> str:
    text = CATALOGUE[key][1 if lang == "en" else 0]
    return text.format(**kw) if kw else text


def error_message(code: str, lang: str) -> str:
    """What a person reads for a refused field (validation.FieldError's code), form and API."""
    if code == "story_too_long":
        return t("error_story_too_long", lang, max=validation.STORY_MAX_CHARS)
    return t(f"error_{code}", lang)


# The crisis numbers in any sentence: 0800-0113, 113 and 112 (not the 113 of "113.nl").
_CRISIS_NUMBER = re.compile(r"0800-0113|\b11[23]\b(?!\.nl)")


def tel_links(text: str) -> Markup:
    """The sentence, escaped, with every crisis number made a tap-to-call link."""
    out, at = Markup(""), 0
    for m in _CRISIS_NUMBER.finditer(text):
        number = m.group(0)
        out += escape(text[at : m.start()])
        out += Markup('<a href="tel:{}">{}</a>').format(number.replace("-", ""), number)
        at = m.end()
    return out + escape(text[at:])
