"""The one message catalogue of intake's pages (Dutch first, English second)."""

from __future__ import annotations

import re

from markupsafe import Markup, escape

from opendeur import catalogue
from opendeur.settings import get_settings
from services.intake import validation

# The network's own phone line (OPENDEUR_NETWORK_PHONE): on the 429 page and the phone console.
# Empty when not configured: no page may print a made-up number.
NETWORK_PHONE = get_settings().network_phone or ""

CATALOGUE: dict[str, dict[str, str]] = {
    "site": {"nl": "Zelfhulp Netwerk", "en": "Self-help Network"},
    "crisis": {
        "nl": "Denk je aan zelfdoding? Bel 0800-0113 of chat via 113.nl (gratis, anoniem, dag en nacht). "
        "Direct gevaar? Bel 112. Je kunt ook altijd je huisarts bellen.",
        "en": "Thinking about suicide? Call 0800-0113 or chat at 113.nl (free, anonymous, day and night). "
        "Immediate danger? Call 112. You can always call your GP too.",
    },
    "title": {
        "nl": "Stel je vraag aan een zelfhulpgroep",
        "en": "Ask a self-help group your question",
    },
    "intro": {
        "nl": "Iemand van een zelfhulpgroep belt je terug, meestal binnen {hours} uur. Dat is iemand "
        "die zelf ervaring heeft, geen hulpverlener.",
        "en": "Someone from a self-help group calls you back, usually within {hours} hours. That is "
        "someone with experience of their own, not a professional. We look for someone who "
        "speaks English; if there is no one, a Dutch-speaking contact person calls you.",
    },
    "for_self": {"nl": "Is deze vraag voor jezelf?", "en": "Is this question for yourself?"},
    "for_self_hint": {
        "nl": "Een groep belt alleen iemand die daar zelf om vraagt. Vraag je voor iemand anders? Dan "
        "hoef je verder niets in te vullen: lees wat je wel kunt doen.",
        "en": "A group only calls someone who asks for it themselves. Asking for someone else? Then "
        "you need not fill in anything else: read what you can do.",
    },
    "for_other_link": {"nl": "Ik vraag voor iemand anders", "en": "I am asking for someone else"},
    "yes": {"nl": "Ja, voor mezelf", "en": "Yes, for myself"},
    "no": {"nl": "Nee, voor iemand anders", "en": "No, for someone else"},
    "topic": {"nl": "Waar wil je over praten?", "en": "What would you like to talk about?"},
    "topic_unknown": {
        "nl": "Weet ik niet / in mijn eigen woorden",
        "en": "I don't know / in my own words",
    },
    "story": {
        "nl": "Je verhaal (mag je leeg laten)",
        "en": "Your story (you may leave this empty)",
    },
    "story_hint": {
        "nl": "Alleen de contactpersoon die je terugbelt leest dit. Schrijf niet meer dan je wilt.",
        "en": "Only the contact person who calls you back reads this. Write no more than you want to.",
    },
    "phone": {"nl": "Je telefoonnummer", "en": "Your phone number"},
    "call_times": {
        "nl": "Wanneer kunnen we je bellen? (mag je leeg laten)",
        "en": "When can we call you? (optional)",
    },
    "postcode": {"nl": "Je postcode (mag je leeg laten)", "en": "Your postcode (optional)"},
    "postcode_hint": {
        "nl": "Alleen de cijfers worden gebruikt, om een groep bij jou in de buurt te vinden.",
        "en": "Only the digits are used, to find a group near you.",
    },
    "consent": {"nl": "Toestemming", "en": "Consent"},
    "statistics": {
        "nl": "Mijn vraag mag zonder naam en nummer meetellen in de cijfers van het netwerk.",
        "en": "My question may count, without name or number, in the network's statistics.",
    },
    "start_group": {
        "nl": "Is er geen groep bij mij in de buurt? Dan help ik graag mee er een te beginnen.",
        "en": "Is there no group near me? Then I would like to help start one.",
    },
    "send": {"nl": "Verstuur mijn vraag", "en": "Send my question"},
    "unavailable": {
        "nl": "Het lukt ons op dit moment niet om je vraag op te slaan. Wat je schreef staat er nog: "
        "probeer het over een minuut opnieuw. Is het dringend? Bel 0800-0113 (113, dag en nacht) "
        "of bij direct gevaar 112.",
        "en": "We cannot save your question right now. What you wrote is still here: please try again "
        "in a minute. Is it urgent? Call 0800-0113 (113, day and night) or 112 in immediate "
        "danger.",
    },
    "unavailable_title": {"nl": "Dat lukte nu even niet", "en": "That did not work just now"},
    "errors_title": {
        "nl": "Er ging iets mis. Kijk naar de velden hieronder.",
        "en": "Something is not right. Please look at the fields below.",
    },
    "thanks_title": {
        "nl": "Dank je wel. Je vraag is ontvangen.",
        "en": "Thank you. Your question has arrived.",
    },
    "reference": {"nl": "Je kenmerk", "en": "Your reference"},
    "next": {
        "nl": "Een contactpersoon van een zelfhulpgroep belt je, {deadline}. Het nummer kan onbekend "
        "voor je zijn.",
        "en": "A contact person of a self-help group will call you, {deadline}. The number may be one "
        "you do not know.",
    },
    "next_unmatched": {
        "nl": "Is er geen groep die je kan bellen? Dan neemt het netwerkteam je vraag over.",
        "en": "If no group can call you, the network team takes over your question.",
    },
    "next_language": {
        "nl": "Je vroeg in het Engels. We zoeken een contactpersoon die Engels spreekt. Is die er niet, "
        "dan belt een Nederlandstalige contactpersoon je; die weet dat je liever Engels spreekt.",
        "en": "You asked in English. We look for a contact person who speaks English. If there is no "
        "one, a Dutch-speaking contact person calls you; they know you prefer English, and you can "
        "ask them to speak slowly.",
    },
    "next_language_crisis": {
        "nl": "Je vroeg in het Engels. Het netwerkteam weet dat je liever Engels spreekt.",
        "en": "You asked in English. The network team knows you prefer English.",
    },
    "next_crisis": {
        "nl": "Iemand van het netwerkteam belt je, {deadline}. Dat is iemand van het netwerk zelf, "
        "niet van een groep. Het nummer kan onbekend voor je zijn. Wacht daar niet op als het nu "
        "niet gaat: bel 113 (0800-0113), bij direct gevaar 112, of je huisarts.",
        "en": "Someone from the network team will call you, {deadline}. That is someone from the "
        "network itself, not from a group. The number may be one you do not know. Do not wait "
        "for that if you are not coping now: call 113 (0800-0113), 112 in immediate danger, or "
        "your GP.",
    },
    "advice": {
        "nl": "Je schreef iets waar we ons zorgen over maken. Denk je aan zelfdoding? Bel of chat nu "
        "gratis en anoniem met 113 Zelfmoordpreventie: 0800-0113 of 113.nl. Is er direct gevaar? "
        "Bel 112. Je kunt ook je huisarts bellen (buiten kantoortijd de huisartsenpost). Een "
        "zelfhulpgroep vervangt geen professionele hulp.",
        "en": "You wrote something we are worried about. Are you thinking about suicide? Call or chat "
        "now, free and anonymous, with 113 Suicide Prevention: 0800-0113 or 113.nl. In immediate "
        "danger? Call 112. You can also call your GP (out of hours: the GP emergency service). A "
        "self-help group does not replace professional help.",
    },
    "thanks_once": {
        "nl": "Om je privacy te beschermen laten we je kenmerk en de link om je vraag in te trekken maar "
        "één keer zien.",
        "en": "To protect your privacy we show your reference and the link to withdraw your question "
        "only once.",
    },
    "withdraw_call": {
        "nl": "Wil je je vraag intrekken en heb je de link niet meer? Bel het netwerk: {phone}.",
        "en": "Want to withdraw your question and no longer have the link? Call the network: {phone}.",
    },
    "quick_exit": {"nl": "Snel weg", "en": "Quick exit"},
    "quick_exit_hint": {
        "nl": "Snel weg: klik op de knop of druk twee keer op Esc. Je gaat dan naar een andere website.",
        "en": "Quick exit: click the button or press Esc twice. You go to another website.",
    },
    "withdraw_hint": {
        "nl": "Wil je je vraag intrekken? Bewaar deze link; daarmee wissen we je gegevens meteen:",
        "en": "Want to withdraw your question? Keep this link; it erases your data at once:",
    },
    "withdraw": {"nl": "Vraag intrekken", "en": "Withdraw my question"},
    "withdraw_confirm": {
        "nl": "Trek je je vraag in, dan wissen we je telefoonnummer en je verhaal meteen. Niemand belt "
        "je dan terug. Je kunt later altijd een nieuwe vraag stellen.",
        "en": "If you withdraw your question, we erase your phone number and your story at once. "
        "Nobody will call you back then. You can always ask a new question later.",
    },
    "withdrawn": {
        "nl": "Je vraag is ingetrokken en je gegevens zijn gewist.",
        "en": "Your question was withdrawn and your data erased.",
    },
    "gone_body": {
        "nl": "Je vraag is al ingetrokken of gewist, of de link klopt niet. Je hoeft niets meer te "
        "doen.",
        "en": "Your question was already withdrawn or erased, or the link is not right. You do "
        "not need to do anything else.",
    },
    "cross_site": {
        "nl": "Dit formulier werkt alleen op onze eigen website. Open de website en stel je vraag "
        "daar.",
        "en": "This form only works on our own website. Open the website and ask your question "
        "there.",
    },
    "not_found": {
        "nl": "Deze link werkt niet (meer).",
        "en": "This link does not work (any more).",
    },
    "consent_required": {
        "nl": "Zonder deze toestemming kan niemand je terugbellen.",
        "en": "Without this permission nobody can call you back.",
    },
    "must_self_contact": {
        "nl": "We helpen alleen als iemand zelf contact zoekt. Stuur de persoon de link naar ons formulier.",
        "en": "We can only help when people contact us themselves. Send them the link to our form.",
    },
    "lang_switch": {"nl": "English", "en": "Nederlands"},
    "skip": {"nl": "Naar de inhoud", "en": "Skip to content"},
    "crisis_label": {"nl": "Crisishulp", "en": "Crisis help"},
    "errors_intro": {
        "nl": "Controleer deze {count} velden:",
        "en": "Please check these {count} fields:",
    },
    "errors_intro_one": {"nl": "Controleer dit veld:", "en": "Please check this field:"},
    "error_invalid_phone": {
        "nl": "Vul een geldig telefoonnummer in, bijvoorbeeld 06 12345678 of 040 1234567.",
        "en": "Enter a valid phone number, for example 06 12345678 or +31 40 1234567.",
    },
    "error_invalid_postcode": {
        "nl": "Vul vier cijfers in, bijvoorbeeld 5611, of laat de postcode leeg.",
        "en": "Enter four digits, for example 5611, or leave the postcode empty.",
    },
    "error_story_too_long": {
        "nl": "Je verhaal is te lang: gebruik hoogstens {max} tekens.",
        "en": "Your story is too long: use at most {max} characters.",
    },
    "error_call_times_too_long": {
        "nl": "Houd dit kort: hoogstens {max} tekens.",
        "en": "Keep this short: at most {max} characters.",
    },
    "error_unknown_topic": {
        "nl": "Kies een onderwerp uit de lijst.",
        "en": "Choose a topic from the list.",
    },
    "error_consent_read": {
        "nl": "Lees de toestemmingstekst voor en vink dit aan.",
        "en": "Read the consent text aloud and tick this box.",
    },
    "sms_confirm": {
        "nl": "Stuur me een sms met mijn kenmerk en de link om mijn vraag in te trekken",
        "en": "Send me a text message with my reference and the link to withdraw my question",
    },
    "sms_confirm_hint": {
        "nl": "Let op: iedereen die je telefoon kan zien, kan deze sms ook lezen. En met de link "
        "kan diegene je vraag intrekken. Deel je je telefoon met iemand? Vink dit dan niet aan. "
        "De sms blijft staan, ook als je vraag gewist is: gooi hem zelf weg. Je krijgt hooguit "
        "één sms per dag.",
        "en": "Please note: anyone who can see your phone can read this text message too, and "
        "could withdraw your question with the link. Do you share your phone with someone? "
        "Then leave this box empty. The text stays on your phone, even after your question is "
        "erased: delete it yourself. You get at most one text a day.",
    },
    "sms_text": {
        "nl": "{network}: we hebben je vraag ontvangen. Je kenmerk is {reference}. We bellen je "
        "{deadline}. Vraag intrekken: {link}",
        "en": "{network}: we received your question. Your reference is {reference}. We will "
        "call you {deadline}. Withdraw your question: {link}",
    },
    "error_sms_needs_mobile": {
        "nl": "Een sms kan alleen naar een Nederlands mobiel nummer (06). Vul zo'n nummer in, of "
        "zet het vinkje bij de sms uit.",
        "en": "A text message can only go to a Dutch mobile number (06). Enter such a number, or "
        "untick the text message box.",
    },
    "error_sms_unavailable": {
        "nl": "We kunnen op dit moment geen sms sturen. Zet het vinkje bij de sms uit en verstuur "
        "je vraag opnieuw.",
        "en": "We cannot send text messages at the moment. Untick the text message box and send "
        "your question again.",
    },
    "advice_title": {"nl": "Lees dit eerst", "en": "Please read this first"},
    "withdraw_keep": {
        "nl": "Bewaar deze link goed. Iedereen die hem heeft, kan je vraag intrekken.",
        "en": "Keep this link safe. Anyone who has it can withdraw your question.",
    },
    "thanks_followup": {
        "nl": "Na het gesprek kun je met dezelfde link laten weten of het gesprek je hielp. Dat is "
        "anoniem en je mag het overslaan.",
        "en": "After the call you can use the same link to tell us whether it helped. It is "
        "anonymous and you may skip it.",
    },
    "fu_title": {"nl": "Heeft het gesprek je geholpen?", "en": "Did the conversation help you?"},
    "fu_intro": {
        "nl": "Je bent teruggebeld. Wil je ons één ding laten weten? Je mag dit ook overslaan.",
        "en": "You were called back. Would you tell us one thing? You may also skip this.",
    },
    "fu_answer_yes": {"nl": "Ja", "en": "Yes"},
    "fu_answer_somewhat": {"nl": "Een beetje", "en": "A little"},
    "fu_answer_no": {"nl": "Nee", "en": "No"},
    "fu_anonymous": {
        "nl": "Je antwoord is anoniem: we tellen alleen hoe vaak mensen ja, een beetje of nee "
        "zeggen. Je nummer, je verhaal en je vraag gaan er niet mee.",
        "en": "Your answer is anonymous: we only count how often people say yes, a little or no. "
        "Your number, your story and your question are not part of it.",
    },
    "fu_erase_title": {"nl": "Je gegevens", "en": "Your details"},
    "fu_erase": {
        "nl": "Je nummer en je verhaal worden uiterlijk {hours} uur na het gesprek gewist. Wil je "
        "dat nu al?",
        "en": "Your number and your story are erased at the latest {hours} hours after the call. "
        "Do you want that now?",
    },
    "fu_erase_now": {"nl": "Wis mijn gegevens nu", "en": "Erase my details now"},
    "fu_erase_confirm": {
        "nl": "Zeker weten? Je nummer en je verhaal worden meteen gewist; dat kan niet terug.",
        "en": "Are you sure? Your number and your story are erased at once; this cannot be undone.",
    },
    "fu_erase_yes": {"nl": "Ja, wis ze nu", "en": "Yes, erase them now"},
    "fu_done_title": {"nl": "Je bent al gebeld", "en": "You were already called"},
    "fu_done_body": {
        "nl": "Dank je wel voor je antwoord. Je hoeft niets meer te doen.",
        "en": "Thank you for your answer. You do not need to do anything else.",
    },
    "fu_erased": {
        "nl": "Je nummer en je verhaal zijn gewist. Je hoeft niets meer te doen.",
        "en": "Your number and your story are erased. You do not need to do anything else.",
    },
    "fu_thanks": {"nl": "Dank je wel voor je antwoord.", "en": "Thank you for your answer."},
    "fu_thanks_body": {
        "nl": "We hopen dat het goed met je gaat. Wil je later weer met iemand praten? Je kunt "
        "altijd een nieuwe vraag stellen.",
        "en": "We hope you are doing well. Want to talk to someone again later? You can always ask "
        "a new question.",
    },
    "fu_new_question": {"nl": "Een nieuwe vraag stellen", "en": "Ask a new question"},
    "fu_closed": {
        "nl": "Dit is al beantwoord, of deze link werkt niet meer.",
        "en": "This was already answered, or this link no longer works.",
    },
    "fu_closed_body": {
        "nl": "Je hoeft niets meer te doen. Wil je weer met iemand praten? Stel gerust een nieuwe "
        "vraag.",
        "en": "You do not need to do anything else. Want to talk to someone again? Feel free to "
        "ask a new question.",
    },
    "referral_title": {
        "nl": "Je vraagt voor iemand anders",
        "en": "You are asking for someone else",
    },
    "other_why": {
        "nl": "Fijn dat je meedenkt. Een zelfhulpgroep belt alleen iemand die daar zelf om vraagt. Zo "
        "beslist die persoon zelf of, wanneer en met wie hij of zij praat. Wat je invulde is niet "
        "bewaard.",
        "en": "Thank you for thinking along. A self-help group only calls someone who asks for it "
        "themselves. That way the person decides whether, when and with whom to talk. Nothing you "
        "filled in was kept.",
    },
    "other_share_title": {"nl": "Stuur de persoon deze link", "en": "Send the person this link"},
    "other_share_hint": {
        "nl": "Met deze link kan de persoon zelf een vraag stellen, wanneer het hem of haar uitkomt.",
        "en": "With this link the person can ask a question themselves, whenever it suits them.",
    },
    "other_share": {"nl": "Link delen", "en": "Share link"},
    "other_copy": {"nl": "Link kopiëren", "en": "Copy link"},
    "other_copied": {"nl": "De link is gekopieerd.", "en": "The link has been copied."},
    "other_self_title": {"nl": "En hoe gaat het met jou?", "en": "And how are you?"},
    "other_self": {
        "nl": "Zorgen voor iemand, of je zorgen maken om iemand, is zwaar. Er zijn ook groepen voor "
        "mantelzorgers en naasten. Daar praat je met mensen die hetzelfde meemaken.",
        "en": "Caring for someone, or worrying about someone, is hard. There are groups for carers and "
        "family members too. There you talk with people who go through the same.",
    },
    "other_self_link": {
        "nl": "Stel je eigen vraag over mantelzorg",
        "en": "Ask your own question about caring for someone",
    },
    "other_self_link_plain": {"nl": "Stel je eigen vraag", "en": "Ask your own question"},
    "other_contact_title": {"nl": "Contact met het netwerk", "en": "Contact the network"},
    "other_phone": {"nl": "Bel", "en": "Call"},
    "other_email": {"nl": "Mail", "en": "Email"},
    "rate_limited_title": {"nl": "Even geduld", "en": "Please wait a moment"},
    "rate_limited": {
        "nl": "Er komen nu veel berichten vanaf jouw verbinding. Probeer het over een paar minuten "
        "opnieuw. Is het dringend? Bel 113 (0800-0113) of bij direct gevaar 112.",
        "en": "Many messages are coming from your connection right now. Please try again in a few "
        "minutes. Is it urgent? Call 113 (0800-0113), or 112 in immediate danger.",
    },
    # Callback page for contact persons.
    "cb_title": {"nl": "Terugbellen", "en": "Call back"},
    "cb_heading": {"nl": "Bel deze persoon terug", "en": "Please call back"},
    "cb_reference": {"nl": "Kenmerk", "en": "Reference"},
    "cb_before": {"nl": "bel", "en": "call"},
    "cb_priority": {
        "nl": "Er zijn crisiswoorden gevonden: verwijs zo nodig naar 113, 112 of de huisarts.",
        "en": "Crisis words were found: refer to 113, 112 or the GP when needed.",
    },
    "cb_prefers_en": {
        "nl": "Deze persoon stelde de vraag in het Engels en spreekt liever Engels.",
        "en": "This person asked in English and prefers English.",
    },
    "cb_call_times": {"nl": "Liefst gebeld", "en": "Prefers to be called"},
    "cb_story": {"nl": "Het verhaal", "en": "Their story"},
    "cb_no_story": {
        "nl": "Deze persoon schreef geen verhaal; vraag rustig waar het over gaat.",
        "en": "This person wrote no story; calmly ask what it is about.",
    },
    "cb_guide_title": {"nl": "Het gesprek", "en": "The conversation"},
    "cb_guide": {
        "nl": "Luister eerst: laat de ander vertellen, in eigen woorden en tempo.|"
        "Vertel wie je bent: iemand met eigen ervaring, geen hulpverlener.|"
        "Beloof niet te veel: vertel wat de groep wel en niet is, en wanneer ze samenkomt.|"
        "Lijkt professionele hulp nodig? Verwijs naar de huisarts; bij gedachten aan zelfdoding "
        "naar 113 (0800-0113), bij direct gevaar 112.|"
        "De ander beslist: over meekomen, over wanneer, en over wat gedeeld wordt.",
        "en": "Listen first: let them tell it in their own words and at their own pace.|"
        "Say who you are: someone with experience of their own, not a professional.|"
        "Do not promise too much: say what the group is and is not, and when it meets.|"
        "Does professional care seem needed? Refer to the GP (huisarts); for thoughts of suicide "
        "to 113 (0800-0113), in immediate danger 112.|"
        "They decide: whether to come, when, and what to share.",
    },
    "cb_outcome_title": {"nl": "Hoe ging het?", "en": "How did it go?"},
    "cb_final_confirm": {
        "nl": "Zeker weten? Het nummer en het verhaal worden daarna gewist; dat kan niet terug.",
        "en": "Are you sure? The number and the story are erased afterwards; this cannot be undone.",
    },
    "cb_final_yes": {"nl": "Ja: {outcome}", "en": "Yes: {outcome}"},
    "cb_joins_group": {
        "nl": "Deze persoon wil naar een bijeenkomst van de groep komen",
        "en": "This person wants to come to a meeting of the group",
    },
    "cb_night": {
        "nl": "Niemand wordt 's nachts gebeld. Deze persoon verwacht je telefoontje {promise}.",
        "en": "Nobody is called at night. This person expects your call {promise}.",
    },
    "cb_joins_noted": {
        "nl": "Doorgegeven: deze persoon wil naar de groep komen.",
        "en": "Passed on: this person wants to come to the group.",
    },
    "cb_joins_hint": {
        "nl": "Alleen geteld, zonder naam of nummer: zo ziet het netwerk hoeveel mensen na een "
        "gesprek naar een groep willen komen.",
        "en": "Only counted, without a name or number: it shows the network how many people want "
        "to come to a group after a talk.",
    },
    "cb_unreachable_hint": {
        "nl": "Niet bereikt? De vraag blijft van jou en je kunt het later opnieuw proberen. Na 3 keer "
        "neemt het netwerkteam het over.",
        "en": "Could not reach them? The question stays yours and you can try again later. After 3 "
        "tries the network team takes over.",
    },
    "cb_erase_note": {
        "nl": "Na 'Gesproken' of 'Doorverwezen' worden het nummer en het verhaal gewist.",
        "en": "After 'We talked' or 'Referred' the number and the story are erased.",
    },
    "outcome_reached": {"nl": "Gesproken", "en": "We talked"},
    "outcome_unreachable": {"nl": "Niet bereikt", "en": "Could not reach"},
    "outcome_wrong_group": {"nl": "Past niet bij onze groep", "en": "Not for our group"},
    "outcome_referred_professional": {
        "nl": "Doorverwezen naar professionele hulp",
        "en": "Referred to professional help",
    },
    "choose_outcome": {"nl": "Kies een uitkomst.", "en": "Choose an outcome."},
    "cb_invalid": {
        "nl": "Deze link is ongeldig of verlopen.",
        "en": "This link is invalid or has expired.",
    },
    "cb_erased": {
        "nl": "De gegevens van deze vraag zijn gewist.",
        "en": "The data of this question has been erased.",
    },
    "cb_moved": {
        "nl": "Deze vraag is aan een andere groep gegeven.",
        "en": "This question was given to another group.",
    },
    "cb_done": {
        "nl": "Dank je wel, dit gesprek is afgerond.",
        "en": "Thank you, this callback is complete.",
    },
    "cb_done_body": {
        "nl": "Je hoeft met deze link niets meer te doen.",
        "en": "There is nothing more to do with this link.",
    },
    "cb_closed": {
        "nl": "Jouw deel van deze vraag is afgerond.",
        "en": "Your part in this question is complete.",
    },
    "cb_expired": {"nl": "Deze link is verlopen.", "en": "This link has expired."},
    "cb_try_again": {"nl": "Genoteerd: niet bereikt.", "en": "Noted: could not reach them."},
    "cb_try_again_body": {
        "nl": "De vraag blijft van jou: probeer het later nog eens, deze link blijft werken. Lukt het "
        "3 keer niet, dan neemt het netwerkteam de vraag over.",
        "en": "The question stays yours: please try again later, this link keeps working. If it does "
        "not work 3 times, the network team takes the question over.",
    },
    "cb_pending": {
        "nl": "Deze vraag wordt nog klaargezet. Probeer het over een minuut opnieuw.",
        "en": "This question is still being prepared. Please try again in a minute.",
    },
    "cb_gone_body": {
        "nl": "Deze link geeft geen toegang meer tot de gegevens. Je hoeft niets te doen; heb je een "
        "vraag, neem dan contact op met het team van het netwerk.",
        "en": "This link no longer opens the question's details. There is nothing you need to do; if "
        "you have a question, please contact the network's team.",
    },
    # A contact person's optional PIN (services/intake/pins.py).
    "pin_enter_title": {"nl": "Je pincode", "en": "Your PIN"},
    "pin_enter_text": {
        "nl": "Je hebt een pincode ingesteld. Vul die in om het telefoonnummer en het verhaal te zien.",
        "en": "You have set a PIN. Enter it to see the phone number and the story.",
    },
    "pin_label": {"nl": "Pincode (4 tot 8 cijfers)", "en": "PIN (4 to 8 digits)"},
    "pin_repeat": {"nl": "Pincode nog een keer", "en": "PIN once more"},
    "pin_current": {"nl": "Je huidige pincode", "en": "Your current PIN"},
    "pin_submit": {"nl": "Verder", "en": "Continue"},
    "pin_set_title": {
        "nl": "Pincode voor je terugbelpagina's",
        "en": "A PIN for your callback pages",
    },
    "pin_set_text": {
        "nl": "Met een pincode opent een terugbellink alleen nog na je pincode. Wie een link te pakken "
        "krijgt, ziet dan niets. De pincode wordt alleen versleuteld bewaard en staat nooit in "
        "een mail.",
        "en": "With a PIN, a callback link opens only after your PIN. Whoever gets hold of a link "
        "then sees nothing. The PIN is only kept hashed and is never in a mail.",
    },
    "pin_set_has": {
        "nl": "Je hebt al een pincode. Vul je huidige pincode in om hem te wijzigen. Kwijt? Het team "
        "van het netwerk kan hem wissen.",
        "en": "You already have a PIN. Enter your current PIN to change it. Lost it? The network's "
        "team can clear it.",
    },
    "pin_set_save": {"nl": "Pincode opslaan", "en": "Save PIN"},
    "pin_saved": {"nl": "Je pincode is opgeslagen.", "en": "Your PIN has been saved."},
    "pin_saved_body": {
        "nl": "Terugbelpagina's vragen er voortaan om, eens per half uur.",
        "en": "Callback pages ask for it from now on, once every half hour.",
    },
    "pin_format": {"nl": "Een pincode is 4 tot 8 cijfers.", "en": "A PIN is 4 to 8 digits."},
    "pin_mismatch": {
        "nl": "De twee pincodes zijn niet gelijk.",
        "en": "The two PINs are not the same.",
    },
    "pin_wrong": {
        "nl": "Die pincode klopt niet. Na 5 foute pogingen gaat de pincode op slot.",
        "en": "That PIN is not right. After 5 wrong tries the PIN is locked.",
    },
    "pin_locked": {"nl": "Je pincode is op slot.", "en": "Your PIN is locked."},
    "pin_locked_body": {
        "nl": "Er is te vaak een foute pincode ingevuld. Neem contact op met het team van het netwerk: "
        "zij kunnen de pincode wissen.",
        "en": "A wrong PIN was entered too often. Please contact the network's team: they can clear "
        "the PIN.",
    },
    "cb_overview_pin": {
        "nl": "Open deze vraag met de link in de mail.",
        "en": "Open this question with the link in the mail.",
    },
    "cb_overview_pin_body": {
        "nl": "Een link op je overzichtspagina opent een vraag alleen als je een pincode hebt "
        "ingesteld: je overzichtslink staat in elke mail, en wie die doorgestuurd krijgt, mag "
        "de telefoonnummers niet zien. Gebruik de link in de mail over deze vraag, of stel een "
        "pincode in om vragen vanaf je overzicht te openen.",
        "en": "A link on your overview page opens a question only once you have set a PIN: your "
        "overview link is in every mail, and whoever gets one forwarded must not see the phone "
        "numbers. Use the link in the mail about this question, or set a PIN to open questions "
        "from your overview.",
    },
    "cb_overview_pin_link": {"nl": "Pincode instellen", "en": "Set a PIN"},
    "cb_held": {
        "nl": "Deze pagina is even niet beschikbaar.",
        "en": "This page is not available for now.",
    },
    "cb_held_body": {
        "nl": "Via jouw links zijn ongewoon veel vragen geopend. Het team van het netwerk is gewaarschuwd "
        "en neemt contact met je op; tot dan opent geen nieuwe vraag.",
        "en": "Unusually many questions were opened through your links. The network's team has been "
        "told and will contact you; until then no new question opens.",
    },
    # Phone console for volunteers.
    "ph_title": {"nl": "Telefoonlijn", "en": "Phone line"},
    "ph_logout": {"nl": "Afmelden", "en": "Sign out"},
    "ph_overview": {"nl": "Overzicht", "en": "Overview"},
    "ph_csrf": {
        "nl": "Dit formulier is verlopen. Laad de pagina opnieuw.",
        "en": "This form has expired. Please reload the page.",
    },
    "ph_script_title": {"nl": "Lees voor aan de beller", "en": "Read this aloud to the caller"},
    "ph_script_intro": {
        "nl": "Zeg: “Voordat ik je vraag invoer, lees ik je voor waar je mee instemt.” Lees dan voor:",
        "en": "Say: “Before I enter your question, I will read out what you agree to.” Then read:",
    },
    "ph_script_after": {
        "nl": "Zeg daarna: “Aan het eind geef ik je een kenmerk. Schrijf dat op: wil je je vraag later "
        "intrekken, bel ons dan en noem je kenmerk.” Vraag dan: “Is dat goed?”",
        "en": "Then say: “At the end I will give you a reference. Please write it down: if you want to "
        "withdraw your question later, call us and give your reference.” Then ask: “Is that all "
        "right?”",
    },
    "ph_crisis_title": {
        "nl": "Denkt de beller aan zelfdoding, of is er gevaar?",
        "en": "Is the caller thinking about suicide, or in danger?",
    },
    "ph_crisis_say": {
        "nl": "Zeg rustig: “Ik hoor dat het heel zwaar is. Bel nu met 113, dat is gratis en anoniem, "
        "dag en nacht: 0800-0113, nul acht honderd, nul één één drie. Is er direct gevaar? Bel "
        "dan 112. Je kunt ook je huisarts bellen.” Vraag of de beller dat nu gaat doen. Voer de "
        "vraag daarna gewoon in, met wat de beller vertelde, en zeg: “Niet een groep, maar "
        "iemand van het netwerkteam belt je terug, {deadline}.”",
        "en": "Say calmly: “I hear that things are very hard. Please call 113 now, free and "
        "anonymous, day and night: 0800-0113, zero eight hundred, zero one one three. In "
        "immediate danger? Call 112. You can also call your GP.” Ask whether the caller will do "
        "that now. Then enter the question as usual, with what the caller told you, and say: "
        "“Not a group, but someone from the network team will call you back, {deadline}.”",
    },
    "ph_consent_read": {
        "nl": "Ik heb de toestemmingstekst voorgelezen.",
        "en": "I have read the consent text aloud.",
    },
    "ph_consent_given": {
        "nl": "De beller geeft toestemming om het nummer met één contactpersoon te delen.",
        "en": "The caller agrees to share the number with one contact person.",
    },
    "ph_statistics": {
        "nl": "De beller vindt het goed dat de vraag zonder naam meetelt in de cijfers.",
        "en": "The caller agrees the question counts, without name, in the statistics.",
    },
    "ph_for_self": {
        "nl": "Belt de persoon voor zichzelf?",
        "en": "Is the caller asking for themselves?",
    },
    "ph_language": {"nl": "Taal van de beller", "en": "Caller's language"},
    "ph_story": {
        "nl": "Wat vertelt de beller? (mag leeg)",
        "en": "What does the caller say? (optional)",
    },
    "ph_phone": {"nl": "Terugbelnummer", "en": "Number to call back"},
    "ph_start_group": {
        "nl": "De beller wil helpen een groep te beginnen als er geen is.",
        "en": "The caller would like to help start a group if there is none.",
    },
    "ph_send": {"nl": "Vraag invoeren", "en": "Enter question"},
    "ph_done": {"nl": "De vraag is ingevoerd.", "en": "The question has been entered."},
    "ph_read_reference": {
        "nl": "Lees het kenmerk voor en spel het rustig:",
        "en": "Read the reference aloud and spell it calmly:",
    },
    "ph_read_advice": {"nl": "Lees dit nu voor", "en": "Read this aloud now"},
    "ph_advice_speech": {
        "nl": "Je vertelde iets waar ik me zorgen over maak. Denk je aan zelfdoding? Bel dan nu met "
        "113 Zelfmoordpreventie, gratis en anoniem, dag en nacht: 0800-0113, nul acht honderd, "
        "nul één één drie. Is er direct gevaar? Bel 112. Je kunt ook je huisarts bellen.",
        "en": "You told me something I am worried about. Are you thinking about suicide? Please call "
        "113 Suicide Prevention now, free and anonymous, day and night: 0800-0113, zero eight "
        "hundred, zero one one three. In immediate danger? Call 112. You can also call your GP.",
    },
    "ph_say": {"nl": "Zeg:", "en": "Say:"},
    "ph_next_speech": {
        "nl": "Een contactpersoon van een zelfhulpgroep belt je, {deadline}. Het nummer kan onbekend "
        "voor je zijn. Lukt het niet om een groep te vinden, dan neemt het netwerkteam je vraag "
        "over.",
        "en": "A contact person of a self-help group will call you, {deadline}. The number may be "
        "one you do not know. If no group can call you, the network team takes over your "
        "question.",
    },
    "ph_next_crisis_speech": {
        "nl": "Niet een groep, maar iemand van het netwerkteam belt je terug, {deadline}. Het nummer "
        "kan onbekend voor je zijn. Wacht daar niet op als het nu niet gaat: bel 113, of bij "
        "direct gevaar 112.",
        "en": "Not a group, but someone from the network team will call you back, {deadline}. The "
        "number may be one you do not know. Do not wait for that if you are not coping now: call "
        "113, or 112 in immediate danger.",
    },
    "ph_next_language_speech": {
        "nl": "We zoeken een contactpersoon die Engels spreekt. Is die er niet, dan belt een "
        "Nederlandstalige contactpersoon je.",
        "en": "We look for a contact person who speaks English. If there is no one, a Dutch-speaking "
        "contact person will call you.",
    },
    "ph_withdraw_speech": {
        "nl": "Wil je je vraag intrekken? Bel ons dan opnieuw en noem je kenmerk. Dan wissen we je "
        "gegevens meteen.",
        "en": "Want to withdraw your question? Call us again and give your reference. We then erase "
        "your data at once.",
    },
    "ph_done_gone": {
        "nl": "Het kenmerk is al getoond. Er is geen nieuwe vraag ingevoerd.",
        "en": "The reference was shown already. No new question was entered.",
    },
    "ph_withdraw_title": {"nl": "Een vraag intrekken", "en": "Withdraw a question"},
    "ph_withdraw_link": {
        "nl": "Wil een beller een vraag intrekken?",
        "en": "Does a caller want to withdraw a question?",
    },
    "ph_withdraw_intro": {
        "nl": "Vraag de beller om het kenmerk en het telefoonnummer van de vraag. Klopt het, dan wissen "
        "we de vraag en alle gegevens meteen. Dat kan niet terug.",
        "en": "Ask the caller for the reference and the phone number of the question. If they match, "
        "we erase the question and all its data at once. This cannot be undone.",
    },
    "ph_withdraw_reference": {"nl": "Kenmerk", "en": "Reference"},
    "ph_withdraw_reference_hint": {
        "nl": "Bijvoorbeeld OD-AB3D-7KMN. Laat de beller het spellen.",
        "en": "For example OD-AB3D-7KMN. Ask the caller to spell it.",
    },
    "ph_withdraw_phone": {
        "nl": "Telefoonnummer van de vraag",
        "en": "Phone number of the question",
    },
    "ph_withdraw_send": {"nl": "Intrekken en wissen", "en": "Withdraw and erase"},
    "ph_withdrawn": {
        "nl": "De vraag is ingetrokken en de gegevens zijn gewist.",
        "en": "The question was withdrawn and its data erased.",
    },
    "ph_withdrawn_speech": {
        "nl": "Je vraag is ingetrokken en je gegevens zijn gewist. Niemand belt je hierover terug. Je "
        "kunt later altijd opnieuw bellen.",
        "en": "Your question has been withdrawn and your data erased. Nobody will call you back about "
        "it. You can always call again later.",
    },
    "error_reference": {
        "nl": "Vul het kenmerk in zoals het op het briefje staat, bijvoorbeeld OD-AB3D-7KMN.",
        "en": "Enter the reference as written down, for example OD-AB3D-7KMN.",
    },
    "error_withdraw_not_found": {
        "nl": "Geen vraag gevonden met dit kenmerk en dit nummer. Laat de beller het kenmerk spellen; "
        "misschien is de vraag al gewist.",
        "en": "No question found with this reference and this number. Ask the caller to spell the "
        "reference; the question may be erased already.",
    },
    "ph_referral": {
        "nl": "De beller vraagt voor iemand anders. Zeg: “Die persoon kan zelf deze telefoonlijn bellen "
        "of zelf het formulier invullen op {url}. Zo beslist die persoon zelf.” Er is niets "
        "persoonlijks opgeslagen.",
        "en": "The caller is asking for someone else. Say: “That person can call this phone line "
        "themselves, or fill in the form at {url}. That way they decide for themselves.” "
        "Nothing personal was stored.",
    },
    "ph_next_call": {"nl": "Volgend gesprek", "en": "Next call"},
    "nl": {"nl": "Nederlands", "en": "Dutch"},
    "en": {"nl": "Engels", "en": "English"},
}

# Staff pages at intake (web/crisis.py, web/accounts.py, web/staff.py): the team's crisis
# callback and the coordinator's accounts page.
CATALOGUE.update(
    {
        "st_login_title": {"nl": "Inloggen", "en": "Sign in"},
        "st_login_h1": {"nl": "Inloggen voor medewerkers", "en": "Staff sign-in"},
        "st_login_intro": {
            "nl": "Eén inlog voor de telefoonconsole, triage, de beheerconsole en het rapport. Wat je "
            "ziet hangt af van je rollen.",
            "en": "One sign-in for the phone console, triage, the operator console and the report. "
            "What you see depends on your roles.",
        },
        "st_name": {"nl": "Gebruikersnaam", "en": "User name"},
        "st_password": {"nl": "Wachtwoord", "en": "Password"},
        "st_login_button": {"nl": "Inloggen", "en": "Sign in"},
        "st_limited": {
            "nl": "Te veel pogingen. Wacht een minuut.",
            "en": "Too many tries. Wait a minute.",
        },
        "st_wrong": {
            "nl": "Naam of wachtwoord klopt niet.",
            "en": "The name or password is not right.",
        },
        "st_pw_title": {"nl": "Nieuw wachtwoord", "en": "New password"},
        "st_pw_h1": {"nl": "Kies een nieuw wachtwoord", "en": "Choose a new password"},
        "st_pw_hint": {
            "nl": "Minstens {min} tekens. Alleen jij kent het.",
            "en": "At least {min} characters. Only you know it.",
        },
        "st_pw_again": {"nl": "Nog een keer", "en": "Once more"},
        "st_pw_save": {"nl": "Opslaan", "en": "Save"},
        "st_pw_short": {
            "nl": "Kies minstens {min} tekens.",
            "en": "Choose at least {min} characters.",
        },
        "st_pw_differ": {
            "nl": "De twee wachtwoorden verschillen.",
            "en": "The two passwords differ.",
        },
        "st_pw_expired": {"nl": "Het formulier was verlopen.", "en": "The form had expired."},
        "st_link_dead": {"nl": "Deze link werkt niet meer", "en": "This link no longer works"},
        "st_link_dead_body": {
            "nl": "Een inloglink werkt één keer en verloopt na een dag.",
            "en": "A sign-in link works once and expires after a day.",
        },
        "st_first_title": {
            "nl": "Aanmelden met je inloglink",
            "en": "Sign in with your sign-in link",
        },
        "st_first_intro": {
            "nl": "Deze link werkt één keer. Met de knop meld je je aan en kies je meteen een eigen "
            "wachtwoord.",
            "en": "This link works once. The button signs you in and you choose a password of your "
            "own right away.",
        },
        "st_first_button": {"nl": "Aanmelden als {name}", "en": "Sign in as {name}"},
        "st_first_refused": {
            "nl": "Deze aanmelding kwam niet van deze site. Open de inloglink zelf en druk op de knop.",
            "en": "This sign-in did not come from this site. Open the sign-in link yourself and press "
            "the button.",
        },
        "st_unknown_target": {"nl": "Onbekende bestemming.", "en": "Unknown destination."},
        "st_to_login": {"nl": "Naar de inlogpagina", "en": "To the sign-in page"},
        "st_welcome": {"nl": "Welkom, {name}", "en": "Welcome, {name}"},
        "st_your_roles": {"nl": "Je rollen: {roles}.", "en": "Your roles: {roles}."},
        "st_trail_note": {
            "nl": "In het logboek staat wat je doet onder je medewerkerscode",
            "en": "The log records what you do under your staff code",
        },
        "st_trail_note_end": {"nl": ", niet onder je naam.", "en": ", not under your name."},
        "st_your_pages": {"nl": "Je pagina's", "en": "Your pages"},
        "st_no_role": {
            "nl": "Je account heeft nog geen rol. Vraag de coördinator om er een.",
            "en": "Your account has no role yet. Ask the coordinator for one.",
        },
        "st_logout_note": {
            "nl": "Afmelden (bovenaan) sluit ook je andere medewerkerspagina's: triage, crisis, "
            "contactpersonen, console en rapport.",
            "en": "Signing out (at the top) closes your other staff pages too: triage, crisis, contact "
            "persons, console and report.",
        },
        "st_page_phone": {"nl": "Telefoonconsole", "en": "Phone console"},
        "st_page_crisis": {"nl": "Crisisvragen terugbellen", "en": "Call back crisis questions"},
        "st_page_triage": {
            "nl": "Triage: vragen zonder groep",
            "en": "Triage: questions without a group",
        },
        "st_page_contacts": {
            "nl": "Contactpersonen en hun adressen",
            "en": "Contact persons and addresses",
        },
        "st_page_accounts": {"nl": "Medewerkers en rollen", "en": "Staff and roles"},
        "st_page_console": {"nl": "Beheerconsole", "en": "Operator console"},
        "st_page_report": {"nl": "Maandrapport", "en": "Monthly report"},
        "st_refused": {"nl": "Geen toegang", "en": "No access"},
        "st_refused_body": {
            "nl": "Je account heeft niet de rol die voor deze pagina nodig is. Vraag de coördinator "
            "als je denkt dat dit niet klopt.",
            "en": "Your account does not have the role this page needs. Ask the coordinator if you "
            "think this is wrong.",
        },
        "st_home": {"nl": "Naar je overzicht", "en": "To your overview"},
        "st_expired": {
            "nl": "Het formulier was verlopen. Probeer het nog eens.",
            "en": "The form had expired. Please try again.",
        },
        "cr_list_title": {"nl": "Crisisvragen terugbellen", "en": "Call back crisis questions"},
        "cr_list_intro": {
            "nl": "Deze mensen schreven iets waar we ons zorgen over maken. Het team belt ze vandaag "
            "terug, binnen de openingstijden. Open een vraag om het nummer te zien; dat komt in "
            "het logboek, met je medewerkerscode.",
            "en": "These people wrote something we are worried about. The team calls them back today, "
            "within opening hours. Open a question to see the number; that is logged, with your "
            "staff code.",
        },
        "cr_none": {
            "nl": "Er zijn nu geen crisisvragen om terug te bellen.",
            "en": "There are no crisis questions to call back right now.",
        },
        "cr_received": {"nl": "Binnengekomen", "en": "Received"},
        "cr_call": {"nl": "Bellen", "en": "Call"},
        "cr_late": {"nl": "Te laat", "en": "Overdue"},
        "cr_channel_web": {"nl": "via het formulier", "en": "through the form"},
        "cr_channel_phone": {"nl": "via de telefoonlijn", "en": "through the phone line"},
        "cr_no_tries": {"nl": "Nog niet gebeld", "en": "Not called yet"},
        "cr_tries": {
            "nl": "{n} keer niet bereikt, laatst {last}",
            "en": "Not reached {n} times, last {last}",
        },
        "cr_open": {"nl": "Openen en bellen", "en": "Open and call"},
        "cr_title": {"nl": "Bel {reference} terug", "en": "Call back {reference}"},
        "cr_reference": {"nl": "Kenmerk", "en": "Reference"},
        "cr_phone": {"nl": "Telefoonnummer", "en": "Phone number"},
        "cr_tap": {"nl": "Tik op het nummer om te bellen.", "en": "Tap the number to call."},
        "cr_in_english": {
            "nl": "Deze persoon schreef in het Engels; bel zo mogelijk in het Engels.",
            "en": "This person wrote in English; call in English if you can.",
        },
        "cr_no_consent": {
            "nl": "Deze persoon gaf geen toestemming om het verhaal te delen.",
            "en": "This person did not agree to share their story.",
        },
        "cr_guide_title": {"nl": "Zo voer je het gesprek", "en": "How to have the call"},
        "cr_guide": {
            "nl": "Stel je voor: je voornaam, en dat je van het netwerkteam van {network} belt over de "
            "vraag die hij of zij stuurde.|"
            "Vraag rustig hoe het nu gaat. Luister, laat stiltes toe en oordeel niet.|"
            "Vraag gewoon of de ander aan zelfdoding denkt. Ernaar vragen maakt het niet erger.|"
            "Direct gevaar? Bel 112, of laat de ander bellen, en blijf aan de lijn.|"
            "Gedachten aan zelfdoding? Noem 113 Zelfmoordpreventie: 0800-0113 of 113.nl, gratis "
            "en dag en nacht. Bied aan om samen te bellen.|"
            "Zorgen, maar geen direct gevaar? Raad de huisarts aan; buiten kantoortijd de "
            "huisartsenpost.|"
            "Spreek af wat er nu gebeurt. Noteer daarna hieronder hoe het ging.",
            "en": "Introduce yourself: your first name, and that you call from the network team of "
            "{network} about the question they sent.|"
            "Calmly ask how they are doing now. Listen, allow silences and do not judge.|"
            "Simply ask whether they are thinking about suicide. Asking does not make it worse.|"
            "Immediate danger? Call 112, or have them call, and stay on the line.|"
            "Thoughts of suicide? Mention 113 Suicide Prevention: 0800-0113 or 113.nl, free, day "
            "and night. Offer to call together.|"
            "Worried, but no immediate danger? Suggest their GP (huisarts); out of hours the GP "
            "service (huisartsenpost).|"
            "Agree on what happens next. Then record below how it went.",
        },
        "cr_tries_title": {"nl": "Eerdere pogingen", "en": "Earlier tries"},
        "cr_try": {
            "nl": "{at}: {outcome} (medewerker {staff})",
            "en": "{at}: {outcome} (staff {staff})",
        },
        "cr_outcome_title": {"nl": "Hoe ging het?", "en": "How did it go?"},
        "cr_unreachable_hint": {
            "nl": "Niet bereikt? De vraag blijft op de lijst, met deze poging erbij. Probeer het later "
            "nog eens. Spreek alleen in dat het netwerk terugbelt, niet waarover.",
            "en": "Could not reach them? The question stays on the list, with this try added. Try "
            "again later. On voicemail only say that the network will call back, not what about.",
        },
        "cr_erase_note": {
            "nl": "Na 'Bereikt' of 'Doorverwezen' is de vraag klaar en worden het nummer en het "
            "verhaal gewist.",
            "en": "After 'Reached' or 'Referred' the question is done and the number and the story "
            "are erased.",
        },
        "cr_outcome_reached": {"nl": "Bereikt", "en": "Reached"},
        "cr_outcome_unreachable": {
            "nl": "Niet bereikt: later opnieuw",
            "en": "Not reached: try again later",
        },
        "cr_outcome_referred_professional": {
            "nl": "Doorverwezen naar professionele hulp",
            "en": "Referred to professional help",
        },
        "cr_tried_unreachable": {"nl": "niet bereikt", "en": "not reached"},
        "cr_tried_reached": {"nl": "bereikt", "en": "reached"},
        "cr_tried_referred_professional": {"nl": "doorverwezen", "en": "referred"},
        "cr_final_confirm": {
            "nl": "Zeker weten? De vraag is dan klaar. Het nummer en het verhaal worden gewist; dat "
            "kan niet terug.",
            "en": "Are you sure? The question is then done. The number and the story are erased; "
            "this cannot be undone.",
        },
        "cr_final_yes": {"nl": "Ja: {outcome}", "en": "Yes: {outcome}"},
        "cr_saved_unreachable": {
            "nl": "Genoteerd: niet bereikt. De vraag blijft op de lijst; probeer het later opnieuw.",
            "en": "Noted: not reached. The question stays on the list; try again later.",
        },
        "cr_saved_final": {
            "nl": "Genoteerd voor {reference}: {outcome}. Het nummer en het verhaal worden gewist.",
            "en": "Noted for {reference}: {outcome}. The number and the story are erased.",
        },
        "cr_choose": {"nl": "Kies hoe het ging.", "en": "Choose how it went."},
        "cr_gone": {
            "nl": "Deze vraag is er niet (meer)",
            "en": "This question is not (or no longer) here",
        },
        "cr_gone_body": {
            "nl": "Het kenmerk klopt niet, of de gegevens zijn al gewist.",
            "en": "The reference is wrong, or the data has already been erased.",
        },
        "cr_done": {"nl": "Deze vraag is al afgehandeld", "en": "This question has been handled"},
        "cr_done_body": {
            "nl": "Iemand van het team heeft al genoteerd hoe het ging. Er hoeft niemand meer te bellen.",
            "en": "Someone on the team has already recorded how it went. Nobody needs to call.",
        },
        "cr_with_contact": {
            "nl": "Deze vraag is aan een contactpersoon gegeven",
            "en": "This question was given to a contact person",
        },
        "cr_with_contact_body": {
            "nl": "Een contactpersoon van een groep belt terug. Het team hoeft niet meer te bellen.",
            "en": "A contact person of a group calls back. The team need not call any more.",
        },
        "cr_back": {"nl": "Terug naar de lijst", "en": "Back to the list"},
        "ac_title": {"nl": "Medewerkers en rollen", "en": "Staff and roles"},
        "ac_intro": {
            "nl": "Hier maak je accounts, geef je rollen en zet je accounts uit. Elke wijziging komt in "
            "het logboek, met je medewerkerscode.",
            "en": "Here you add accounts, give roles and disable accounts. Every change is logged, "
            "with your staff code.",
        },
        "ac_add": {"nl": "Account toevoegen", "en": "Add an account"},
        "ac_name": {"nl": "Gebruikersnaam", "en": "User name"},
        "ac_name_hint": {
            "nl": "2 tot 40 tekens: kleine letters, cijfers, punt, streepje. Bijvoorbeeld: anna.jansen",
            "en": "2 to 40 characters: lowercase letters, digits, dot, dash. For example: anna.jansen",
        },
        "ac_roles": {"nl": "Rollen", "en": "Roles"},
        "ac_add_button": {"nl": "Account maken", "en": "Create account"},
        "ac_link_shown": {
            "nl": "Account {name} is klaar. Geef deze inloglink persoonlijk door, niet in een "
            "groepsbericht. Hij werkt één keer en verloopt na 24 uur. Je ziet hem alleen nu.",
            "en": "Account {name} is ready. Pass on this sign-in link in person, not in a group "
            "message. It works once and expires after 24 hours. You only see it now.",
        },
        "ac_link_label": {"nl": "Inloglink voor {name}", "en": "Sign-in link for {name}"},
        "ac_saved": {"nl": "Opgeslagen: {what}.", "en": "Saved: {what}."},
        "ac_what_roles": {"nl": "rollen van {name}", "en": "roles of {name}"},
        "ac_what_disable": {"nl": "{name} is uitgezet", "en": "{name} is disabled"},
        "ac_what_enable": {"nl": "{name} kan weer inloggen", "en": "{name} can sign in again"},
        "ac_list": {"nl": "Alle accounts", "en": "All accounts"},
        "ac_status": {"nl": "Status", "en": "Status"},
        "ac_active": {"nl": "Actief", "en": "Active"},
        "ac_disabled": {"nl": "Uitgezet", "en": "Disabled"},
        "ac_must_change": {
            "nl": "Moet nog een wachtwoord kiezen",
            "en": "Still has to choose a password",
        },
        "ac_last": {"nl": "Laatst ingelogd", "en": "Last signed in"},
        "ac_never": {"nl": "nog nooit", "en": "never"},
        "ac_code": {"nl": "Medewerkerscode", "en": "Staff code"},
        "ac_save_roles": {"nl": "Rollen opslaan", "en": "Save roles"},
        "ac_roles_note": {
            "nl": "Na een wijziging van rollen of het uitzetten moet de persoon opnieuw inloggen.",
            "en": "After a change of roles, or disabling, the person has to sign in again.",
        },
        "ac_disable": {"nl": "Account uitzetten", "en": "Disable account"},
        "ac_disable_confirm": {
            "nl": "Zeker weten? {name} kan dan niet meer inloggen en wordt overal uitgelogd. Je kunt "
            "het account later weer aanzetten.",
            "en": "Are you sure? {name} can then no longer sign in and is signed out everywhere. You "
            "can enable the account again later.",
        },
        "ac_disable_yes": {"nl": "Ja, zet {name} uit", "en": "Yes, disable {name}"},
        "ac_enable": {"nl": "Weer aanzetten", "en": "Enable again"},
        "ac_new_link": {"nl": "Nieuwe inloglink", "en": "New sign-in link"},
        "ac_new_link_hint": {
            "nl": "Wachtwoord vergeten? Een nieuwe inloglink laat de persoon een nieuw wachtwoord kiezen.",
            "en": "Forgot the password? A new sign-in link lets the person choose a new password.",
        },
        "ac_you": {"nl": "(jij)", "en": "(you)"},
        "ac_err_name": {
            "nl": "Kies een gebruikersnaam van 2 tot 40 tekens: kleine letters, cijfers, punt, streepje.",
            "en": "Choose a user name of 2 to 40 characters: lowercase letters, digits, dot, dash.",
        },
        "ac_err_exists": {
            "nl": "Deze gebruikersnaam bestaat al.",
            "en": "This user name already exists.",
        },
        "ac_err_role": {"nl": "Kies een rol uit de lijst.", "en": "Choose a role from the list."},
        "ac_err_no_role": {"nl": "Kies minstens één rol.", "en": "Choose at least one role."},
        "ac_err_unknown": {"nl": "Dit account bestaat niet.", "en": "This account does not exist."},
        "ac_err_last_coordinator": {
            "nl": "Dan is er geen coördinator meer die accounts kan beheren. Geef eerst iemand anders "
            "de rol coördinator.",
            "en": "Then no coordinator is left to manage accounts. First give someone else the "
            "coordinator role.",
        },
        "ac_err_self": {
            "nl": "Je kunt je eigen account niet uitzetten.",
            "en": "You cannot disable your own account.",
        },
        "ac_err_invalid": {
            "nl": "Dit kon niet worden opgeslagen.",
            "en": "This could not be saved.",
        },
        "role_telefoonvrijwilliger": {"nl": "Telefoonvrijwilliger", "en": "Phone volunteer"},
        "role_teamlid": {"nl": "Teamlid", "en": "Team member"},
        "role_coordinator": {"nl": "Coördinator", "en": "Coordinator"},
        "role_beheerder": {"nl": "Beheerder", "en": "Operator"},
        "role_rapportage": {"nl": "Rapportage", "en": "Reports"},
        "role_telefoonvrijwilliger_hint": {"nl": "telefoonconsole", "en": "phone console"},
        "role_teamlid_hint": {
            "nl": "triage, crisisvragen terugbellen",
            "en": "triage, crisis callbacks",
        },
        "role_coordinator_hint": {
            "nl": "groepen, adressen, accounts",
            "en": "groups, addresses, accounts",
        },
        "role_beheerder_hint": {
            "nl": "console, logboek, vastgelopen berichten",
            "en": "console, trail, dead letters",
        },
        "role_rapportage_hint": {"nl": "alleen het maandrapport", "en": "the monthly report only"},
    }
)


def t(key: str, lang: str, **kw: object) -> str:
    """The text of `key` in `lang` with its fields filled in (the kit's translator)."""
    return catalogue.translator(CATALOGUE, "en" if lang == "en" else "nl")(key, **kw)


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
