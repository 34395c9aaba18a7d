"""Revocation on routing, notify and audit (opendeur/staff.py StaffGate.heard): a sign-out or an
account change ends the sessions intake vouched for before it, never a later sign-in's, and no
event — a forged or future-dated one included — wipes another person's revocation."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from starlette.requests import Request

from contracts.events import StaffActed
from opendeur.settings import Settings
from opendeur.staff import StaffGate


def gate() -> StaffGate:
    return StaffGate(Settings(_env_file=None, secret_key="k" * 40), "routing")


def cookie_request(g: StaffGate, staff_id: str, vouched: float) -> Request:
    value = g._signer.dumps({"s": staff_id, "r": ["teamlid"], "n": "n1", "t": vouched})
    header = f"{g.cookie}={value}".encode()
    return Request({"type": "http", "headers": [(b"cookie", header)]})


def signed_out(staff_id: str, at: datetime) -> StaffActed:
    return StaffActed(source="intake", staff_id=staff_id, action="signed_out", occurred_at=at)


def test_a_late_sign_out_ends_only_the_sessions_before_it() -> None:
    g, now = gate(), time.time()
    before, after = cookie_request(g, "st-a", now - 5), cookie_request(g, "st-a", now)
    g.heard(signed_out("st-a", datetime.fromtimestamp(now - 1, UTC)))  # heard late
    assert g.current(before) is None
    assert g.current(after) is not None  # she signed in again after signing out


def test_a_future_dated_sign_out_neither_locks_out_nor_wipes_other_revocations() -> None:
    g, now = gate(), time.time()
    g.heard(signed_out("st-gone", datetime.fromtimestamp(now - 1, UTC)))
    old = cookie_request(g, "st-gone", now - 5)
    assert g.current(old) is None
    # A forged event from far in the future: for someone else, and for the victim.
    far = datetime.now(UTC) + timedelta(days=365 * 70)
    g.heard(signed_out("st-other", far))
    g.heard(signed_out("st-victim", far))
    assert g.current(old) is None, "the earlier revocation must survive"
    later = cookie_request(g, "st-victim", time.time() + 1)  # she signs in again afterwards
    assert g.current(later) is not None, "a future date must not lock her out for good"


def test_a_long_answer_ends_by_the_same_rule_as_a_page() -> None:
    """The audit stream asks `ended`: a sign-out from before this sign-in, heard late, or another
    person's revocation does not end it; her own later one does."""
    g, now = gate(), time.time()
    old = cookie_request(g, "st-op", now - 3600)
    assert not g.ended(old)
    g.heard(signed_out("st-op", datetime.fromtimestamp(now - 7200, UTC)))  # before it: heard late
    g.heard(signed_out("st-other", datetime.fromtimestamp(now, UTC)))
    assert not g.ended(old)
    g.heard(signed_out("st-op", datetime.fromtimestamp(now, UTC)))
    assert g.ended(old)
