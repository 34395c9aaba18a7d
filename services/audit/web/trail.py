"""The trail as an operator reads it: each stored record as one line in plain words (what, who,
which question by its OD reference, when in Amsterdam time), never an id of a person's data."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from contracts.events import NEW_ADDRESS
from opendeur import timefmt, web
from services.audit.web import i18n


@dataclass(frozen=True)
class Line:
    seq: int
    at: str  # ISO-8601, for <time datetime>
    when: str  # Amsterdam local time, for people
    what: str
    reference: str
    who: str
    details: list[str] = field(default_factory=list)
    by_staff: bool = False


def short_reference(question_id: str | None, references: dict[str, str], lang: str) -> str:
    """The question's OD reference as the help-seeker and the contact person know it; for a
    question whose question.received audit never kept one (stored before references were kept),
    a short form of its id, said to be one."""
    if not question_id:
        return ""
    ref = references.get(str(question_id))
    if ref:
        return ref
    return i18n.translator(lang)("no_reference", short=str(question_id)[:8])


def names_contact(record: dict[str, Any]) -> bool:
    """Whether `who` names the record's contact person as the one who did it."""
    if record.get("staff_id") or record.get("by") == "team" or not record.get("contact_id"):
        return False
    return record.get("type") in ("callback.done.v1", "pii.accessed.v1") or (
        record.get("by") == "contact"
    )


def who(record: dict[str, Any], lang: str) -> tuple[str, bool]:
    """(who did it, in words; whether a staff member did)."""
    t = i18n.translator(lang)
    staff_id = record.get("staff_id")
    if staff_id == "cli":  # `opendeur users ...` on the server, no one signed in
        return t("by_cli"), True
    if staff_id == NEW_ADDRESS:  # address_confirmed: the new address's owner pressed its link
        return t("by_new_address"), False
    if staff_id and staff_id.startswith("cli."):  # `opendeur deadletters replay` on the server
        return t("by_cli_account", account=staff_id.removeprefix("cli.")), True
    if staff_id and staff_id.startswith("token."):  # a machine client's scoped token
        return t("by_machine", name=staff_id.removeprefix("token.")), True
    if staff_id:
        return t("by_staff", staff=staff_id), True
    kind = record.get("type")
    if record.get("by") == "team" or kind == "question.closed.v1":
        return t("by_team"), False
    if names_contact(record):
        return t("by_contact", contact=record["contact_id"]), False
    return t("by_system"), False


# The one field whose label completes "what happened", per type.
MAIN = {
    "question.routed.v1": "reason",
    "question.unmatched.v1": "reason",
    "question.escalated.v1": "level",
    "question.closed.v1": "reason",
    "contact.notified.v1": "purpose",
    "notification.failed.v1": "error_code",
    "callback.done.v1": "outcome",
    "question.erased.v1": "reason",
    "referral.noted.v1": "referrer_kind",
    "followup.answered.v1": "answer",
    "group.changed.v1": "change",
    "pii.accessed.v1": "purpose",
    "staff.acted.v1": "action",
}


def account_details(record: dict[str, Any], lang: str) -> list[str]:
    """For an account change: whose account (pseudonymous id) and what changed."""
    if record.get("type") != "staff.acted.v1" or record.get("action") != "account_change":
        return []
    t = i18n.translator(lang)
    out = (
        [t("account_of", staff=record["target_staff_id"])] if record.get("target_staff_id") else []
    )
    return out + ([t(f"account_{record['change']}")] if record.get("change") else [])


def details(
    record: dict[str, Any], lang: str, groups: Mapping[str, str] | None = None
) -> list[str]:
    """The line's details in words; a group by its name from the directory (`groups`, see
    opendeur.web.group_names), its code when the directory does not list it."""
    t = i18n.translator(lang)
    out: list[str] = []
    if record.get("invalid"):
        return [t("invalid")]
    if "topic" in record:
        out.append(i18n.topic_label(record.get("topic"), lang))
    for name in ("channel", "purpose"):
        if record.get(name) and MAIN.get(record.get("type", "")) != name:
            out.append(i18n.code_label(name, record[name], lang))
    if record.get("group_id"):
        out.append(t("group", group=web.group_label(groups or {}, record["group_id"])))
    if record.get("contact_id") and not names_contact(record):
        out.append(t("contact", contact=record["contact_id"]))
    if record.get("requested_by"):
        out.append(t("requested_by", who=who({"staff_id": record["requested_by"]}, lang)[0]))
    return out + account_details(record, lang) + marks(record, lang)


def marks(record: dict[str, Any], lang: str) -> list[str]:
    """The line's last details: a repeated attempt, a crisis question, a dead letter's number."""
    t = i18n.translator(lang)
    out: list[str] = []
    if (record.get("attempt") or 1) > 1:
        out.append(t("attempt", n=record["attempt"]))
    if record.get("priority") or record.get("professional_help_advised"):
        out.append(t("priority"))
    if record.get("joins_group"):
        out.append(t("joins_group"))
    if record.get("deadletter_seq"):
        out.append(t("dead_letter_n", seq=record["deadletter_seq"]))
    return out


def line(
    record: dict[str, Any],
    references: dict[str, str],
    lang: str,
    groups: Mapping[str, str] | None = None,
) -> Line:
    kind = str(record.get("type", ""))
    what = i18n.type_label(kind, lang)
    main = MAIN.get(kind)
    if main and record.get(main):
        what = f"{what}: {i18n.code_label(main, str(record[main]), lang)}"
    by, by_staff = who(record, lang)
    at = record.get("occurred_at") or record.get("recorded_at") or ""
    return Line(
        seq=int(record["seq"]),
        at=str(at),
        when=timefmt.stamp(at, lang) if at else "",
        what=what,
        reference=short_reference(record.get("question_id"), references, lang),
        who=by,
        details=details(record, lang, groups),
        by_staff=by_staff,
    )
