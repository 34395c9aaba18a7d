"""The console in words: every event type, action, outcome and reason has a Dutch and an English
label; a staff member's action reads "door medewerker <id>"; an OD reference, never a UUID; a
dead-letter replay request is a validated staff.acted record of audit's own."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import get_args

import pytest
from pydantic import ValidationError

from contracts.directory import directory_id
from contracts.events import BY_SUBJECT, Outcome, StaffAction
from opendeur.catalogue import missing
from opendeur.natsauth import owned_subjects
from services.audit import replays
from services.audit.web import i18n, trail

TEMPLATES = Path(i18n.__file__).parent / "templates"
STAFF = "st-0123456789abcdef"
QID = str(uuid.uuid4())


def test_every_catalogue_entry_has_dutch_and_english() -> None:
    for table in (i18n.CATALOGUE, i18n.TYPES, i18n.REPORT_KEYS, i18n.DEAD_REASONS):
        assert missing(table) == {}
        assert all(set(texts) == {"nl", "en"} for texts in table.values())


def test_every_key_a_template_uses_is_in_the_catalogue() -> None:
    used = set()
    for path in TEMPLATES.glob("*.html"):
        used |= set(re.findall(r"""\bt\(\s*["']([a-z_]+)["']""", path.read_text("utf-8")))
    assert used and used <= set(i18n.CATALOGUE), used - set(i18n.CATALOGUE)


def test_no_english_is_typed_into_the_templates() -> None:
    # Text between tags is the catalogue's; the templates hold markup, "#", separators and a
    # command to type (in <code>) only.
    for path in TEMPLATES.glob("*.html"):
        html = re.sub(r"{[{%#].*?[}%#]}", "", path.read_text("utf-8"), flags=re.S)
        html = re.sub(r"<code>.*?</code>", "", html)
        words = [w for w in re.findall(r">([^<>]+)<", html) if re.search(r"[A-Za-z]{3}", w)]
        assert words == [], (path.name, words)


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_every_event_type_action_and_outcome_has_a_label(lang: str) -> None:
    for subject in BY_SUBJECT:
        assert not i18n.type_label(subject, lang).startswith(("overig", "other")), subject
    for action in get_args(StaffAction):
        assert not i18n.code_label("action", action, lang).startswith(("overig", "other"))
    for outcome in get_args(Outcome):
        assert not i18n.code_label("outcome", outcome, lang).startswith(("overig", "other"))
    # An unknown code is never shown bare.
    assert i18n.code_label("reason", "new_reason_x", lang) in (
        "overig (new_reason_x)",
        "other (new_reason_x)",
    )


def record(**fields: object) -> dict:
    return {
        "seq": 7,
        "event_id": str(uuid.uuid4()),
        "occurred_at": "2026-12-02T08:30:00+00:00",
        "question_id": QID,
        **fields,
    }


@pytest.mark.parametrize(
    "fields",
    [
        {"type": "staff.acted.v1", "source": "routing", "staff_id": STAFF, "action": "assign"},
        {"type": "staff.acted.v1", "source": "intake", "staff_id": STAFF, "action": "close"},
        {"type": "pii.accessed.v1", "purpose": "team_callback", "staff_id": STAFF},
        {"type": "callback.done.v1", "outcome": "reached", "by": "team", "staff_id": STAFF},
    ],
)
def test_a_staff_members_action_says_who_by_pseudonymous_id(fields: dict) -> None:
    line = trail.line(record(**fields), {QID: "OD-ABCD-2345"}, "nl")
    assert line.who == f"door medewerker {STAFF}" and line.by_staff
    assert line.reference == "OD-ABCD-2345" and QID not in str(line)
    assert line.when == "2 dec 2026, 9.30 uur"  # Amsterdam, not UTC; in words
    assert "_" not in line.what and ".v1" not in line.what


def test_a_contact_persons_callback_and_an_automatic_step_are_not_staff() -> None:
    done = trail.line(
        record(type="callback.done.v1", outcome="unreachable", by="contact", contact_id="c-9"),
        {},
        "nl",
    )
    assert done.who == "door contactpersoon c-9" and not done.by_staff
    assert done.what == "Terugbellen vastgelegd: niet bereikt"
    notified = trail.line(
        record(type="contact.notified.v1", contact_id="c-9", purpose="reminder", channel="email"),
        {},
        "en",
    )
    assert notified.who == "automatically" and "e-mail" in notified.details
    # Routing's reasons are built of parts (tier, call hours, the language she calls in).
    assert i18n.code_label("reason", "topic+municipality+after_hours+in_en", "nl") == (
        "groep voor dit onderwerp in de gemeente, buiten beltijden, belt in het Engels"
    )
    assert i18n.code_label("reason", "topic+online+in_nl_not_en", "en") == (
        "online group for this topic, in Dutch: nobody free who speaks English"
    )
    assert i18n.code_label("reason", "topic+region+weird", "nl") == "overig (topic+region+weird)"
    # notify's purposes carry the routing attempt; the label does not show it as a code.
    assert i18n.code_label("purpose", "new_question.2", "nl") == "nieuwe vraag"


def test_without_a_kept_reference_the_short_form_says_so() -> None:
    line = trail.line(record(type="question.erased.v1", reason="retention"), {}, "nl")
    assert line.reference == f"vraag {QID[:8]} (geen OD-nummer bekend)"
    assert QID not in line.reference


def test_a_replay_request_is_a_staff_acted_record_of_audit_itself() -> None:
    asked = replays.ReplayAsked(
        staff_id=STAFF, deadletter_seq=3, deadletter_subject="question.received.v1"
    )
    dumped = asked.model_dump(mode="json")
    assert dumped["type"] == "staff.acted.v1" and dumped["source"] == "audit"
    assert dumped["action"] == "deadletter_replay" and dumped["staff_id"] == STAFF
    with pytest.raises(ValidationError):  # a name is no staff id
        replays.ReplayAsked(
            staff_id="Anna de Vries", deadletter_seq=3, deadletter_subject="question.received.v1"
        )
    with pytest.raises(ValidationError):  # nothing beside the known fields
        replays.ReplayAsked(
            staff_id=STAFF, deadletter_seq=3, deadletter_subject="x.v1", note="phone 0612345678"
        )
    # Audit publishes nothing: the contract names it as the source of no event.
    assert owned_subjects("audit") == []


def test_a_dead_letter_that_is_gone_or_no_event_is_refused() -> None:
    with pytest.raises(Exception) as gone:
        replays.check(None, 9)
    assert getattr(gone.value, "kind", None) == "not_found"
    with pytest.raises(Exception) as other:
        replays.check({"subject": "$JS.API.STREAM.DELETE.X"}, 9)
    assert getattr(other.value, "code", None) == "not_replayable"
    assert replays.check({"subject": "question.routed.v1"}, 9) == "question.routed.v1"


def test_dead_letter_reasons_and_consumers_in_words() -> None:
    assert i18n.dead_reason("invalid:validationerror", "nl") == "onleesbaar of geen geldig bericht"
    assert (
        i18n.consumer_label("routing-question-received-v1", "nl")
        == "doorsturen (routing): vraag binnengekomen"
    )
    assert i18n.report_key("questions_by_topic", "rouw", "nl") != "rouw"
    assert i18n.report_key("routed_by_municipality", "eindhoven", "nl") == "Eindhoven"


@pytest.mark.parametrize(
    "change", get_args(get_args(BY_SUBJECT["staff.acted.v1"].model_fields["change"].annotation)[0])
)
def test_an_account_change_says_whose_account_and_what_changed(change: str) -> None:
    target = "st-fedcba9876543210"
    record = {
        "type": "staff.acted.v1",
        "source": "intake",
        "staff_id": STAFF,
        "action": "account_change",
        "target_staff_id": target,
        "change": change,
    }
    nl = trail.details(record, "nl")
    assert f"account van medewerker {target}" in nl
    assert len(nl) == 2 and "overig" not in " ".join(nl), nl
    assert trail.who(record, "nl") == (f"door medewerker {STAFF}", True)


def test_a_machine_clients_change_names_its_token_not_a_staff_member() -> None:
    record = {"type": "staff.acted.v1", "staff_id": "token.tests", "action": "address_change"}
    assert trail.who(record, "nl") == ("door koppeling tests (machinetoken)", True)
    assert trail.who(record, "en") == ("by integration tests (machine token)", True)


@pytest.mark.parametrize(
    ("at", "lang", "shown"),
    [
        ("2026-12-02T09:53:00+00:00", "nl", "2 dec 2026, 10.53 uur"),  # winter: UTC+1
        ("2026-07-15T08:05:00+00:00", "nl", "15 jul 2026, 10.05 uur"),  # summer: UTC+2
        ("2026-03-01T23:30:00+00:00", "nl", "2 mrt 2026, 0.30 uur"),  # the next day here
        ("2026-12-02T09:53:00+00:00", "en", "2 Dec 2026, 10:53 am"),
    ],
)
def test_trail_times_read_in_words_in_amsterdam_time(at: str, lang: str, shown: str) -> None:
    line = trail.line(record(type="question.erased.v1", occurred_at=at), {}, lang)
    assert line.when == shown
    assert not re.search(r"\d{4}-\d{2}-\d{2}", line.when)  # never "2026-12-02 10:53"


def test_a_group_in_the_trail_is_named_not_coded() -> None:
    sid = directory_id("service", "rouwgroep-eindhoven")
    got = trail.details(
        record(type="question.routed.v1", group_id="rouwgroep-eindhoven"),
        "nl",
        {sid: "Rouwgroep Eindhoven"},
    )
    assert "groep Rouwgroep Eindhoven" in got and not any("rouwgroep-eindhoven" in d for d in got)
    # A group the directory does not list (it left) still shows its code rather than nothing.
    assert "groep oude-groep" in trail.details(
        record(type="question.routed.v1", group_id="oude-groep"), "nl", {}
    )


def test_the_report_month_and_the_trail_read_as_a_person_says_them() -> None:
    assert i18n.month_label("2026-12", "nl") == "december 2026"
    assert i18n.month_label("2026-03", "en") == "March 2026"
    assert i18n.month_label("nonsense", "nl") == "nonsense"
    assert i18n.type_label("question.unmatched.v1", "nl") == "Naar het team (geen groep)"
    reason = i18n.code_label("reason", "professional_help_advised", "nl")
    assert reason == "crisis, professionele hulp aangeraden"


def test_a_wait_reads_as_a_person_says_it() -> None:
    from services.audit.web.pages import age

    assert age(12 * 60, "nl") == "12 min"
    assert age(3 * 3600 + 5 * 60, "nl") == "3 uur 5 min"
    assert age(2 * 86400 + 4 * 3600, "nl") == "2 dagen 4 uur"
    assert age(86400, "en") == "1 day 0 h"
