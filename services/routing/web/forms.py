"""The contact person's forms read as values (capacity, call hours) and the rules of her own group's
status; pure, so the unit tests aim here."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from datetime import time
from typing import Literal

from opendeur.keys import purpose_key
from opendeur.settings import Settings
from services.routing.web import i18n

MAX_CAPACITY = 20
# What a contact person may do with her own group: from which statuses, to which status.
SELF_ACTIONS: dict[str, tuple[frozenset[str], str]] = {
    "pause": (frozenset({"active"}), "paused"),
    "resume": (frozenset({"paused"}), "active"),
    "leave": (frozenset({"active", "paused"}), "left"),
}
SelfAction = Literal["pause", "resume", "leave"]


class FormError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def parse_capacity(raw: str, lang: i18n.Lang = "nl") -> int:
    t = i18n.translator(lang)
    try:
        value = int(raw.strip())
    except ValueError:
        raise FormError("max_open", t("capacity_not_a_number", max=MAX_CAPACITY)) from None
    if not 0 <= value <= MAX_CAPACITY:
        raise FormError("max_open", t("capacity_out_of_range", max=MAX_CAPACITY))
    return value


def parse_hours(form: Mapping[str, object], lang: i18n.Lang = "nl") -> list[dict]:
    """Per weekday an optional from-to; both empty means no calls that day."""
    t = i18n.translator(lang)
    hours = []
    for day, name in enumerate(i18n.WEEKDAYS[lang]):
        start = str(form.get(f"start_{day}", "")).strip()
        end = str(form.get(f"end_{day}", "")).strip()
        if not start and not end:
            continue
        if not start or not end:
            raise FormError(f"start_{day}", t("hours_both", day=name))
        try:
            t0, t1 = time.fromisoformat(start), time.fromisoformat(end)
        except ValueError:
            raise FormError(f"start_{day}", t("hours_format", day=name)) from None
        if t1 <= t0:
            raise FormError(f"start_{day}", t("hours_order", day=name))
        hours.append({"weekday": day, "start": t0.strftime("%H:%M"), "end": t1.strftime("%H:%M")})
    return hours


def hours_by_day(hours: list[dict], lang: i18n.Lang = "nl") -> list[dict]:
    """The form's rows: one per weekday, with the first stored window of that day."""
    days = i18n.WEEKDAYS[lang]
    rows = [{"day": d, "name": n, "start": "", "end": ""} for d, n in enumerate(days)]
    for w in sorted(hours, key=lambda w: (int(w["weekday"]), w["start"]), reverse=True):
        rows[int(w["weekday"])].update(start=w["start"], end=w["end"])
    return rows


def csrf_token(settings: Settings, credential: str) -> str:
    """Bound to the contact person's link, so a forged cross-site form cannot know it."""
    return hmac.new(purpose_key(settings, "csrf"), credential.encode(), "sha256").hexdigest()


def csrf_ok(settings: Settings, credential: str, given: object) -> bool:
    return hmac.compare_digest(str(given or ""), csrf_token(settings, credential))


def allowed(status: str) -> list[SelfAction]:
    """The changes a contact person may make to her group's status now."""
    return [a for a, (frm, _to) in SELF_ACTIONS.items() if status in frm]  # type: ignore[misc]
