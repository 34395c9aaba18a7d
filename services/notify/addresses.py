"""When a contact person's new address must confirm a change first, and the signed link that does it.

The rule (issue #14): notifications carry a link to a help-seeker's phone number, so whoever can
point them elsewhere can read phone numbers. A change therefore takes effect only once the NEW
address has confirmed it, and the OLD address is told at once ("not you? call the network").

- First-time addresses need no confirmation: a contact without any stored address (a new
  contact, one written by `opendeur groups import`, whose pseudonymous id is derived from the very
  e-mail it stores) has no notifications to divert, and nobody to warn.
- Only an address that is not stored yet needs confirming. A change of language or preferred
  channel between addresses already stored, or dropping one of two addresses, applies at once:
  every address it can send to was confirmed before.
- Otherwise the whole change waits (addresses, channel and language together); notifications
  keep going to the old addresses. One change per contact is pending: a new request replaces it
  and the earlier link stops working (the link names the change's nonce).
- The confirmation goes to the new address on the channel notifications will use (the new
  preferred channel's address when that is new, else the other new address).

The link is signed with notify's contact-link key (Ed25519, its own domain) and carries its end;
notify alone signs and checks it, and the nonce in the database makes it single-purpose."""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from cryptography.exceptions import InvalidSignature

from opendeur import links
from opendeur.settings import Settings

CONFIRM_TTL = timedelta(hours=72)
_DOMAIN = b"opendeur-address-confirm/v1:"
Channel = Literal["email", "sms"]


@dataclass(frozen=True)
class Wanted:
    """The addresses a request asks for (as validated by the API)."""

    email: str | None
    mobile: str | None
    channel: Channel
    language: str


@dataclass(frozen=True)
class Decision:
    """apply: write at once. Otherwise confirm on `confirm_channel` at `confirm_to`."""

    apply: bool
    confirm_channel: Channel | None = None
    confirm_to: str | None = None


def decide(old_email: str | None, old_mobile: str | None, new: Wanted) -> Decision:
    """Apply at once, or which new address must confirm the change (see the module docstring)."""
    if old_email is None and old_mobile is None:
        return Decision(apply=True)
    fresh: dict[Channel, str] = {}
    if new.email and _norm_email(new.email) != _norm_email(old_email):
        fresh["email"] = new.email
    if new.mobile and new.mobile != old_mobile:
        fresh["sms"] = new.mobile
    if not fresh:
        return Decision(apply=True)
    channel: Channel = new.channel if new.channel in fresh else next(iter(fresh))
    return Decision(apply=False, confirm_channel=channel, confirm_to=fresh[channel])


def _norm_email(email: str | None) -> str | None:
    return None if email is None else email.strip().lower()


def new_nonce() -> str:
    return secrets.token_urlsafe(16)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(settings: Settings, contact_id: str, nonce: str, until: int) -> str:
    body = _b64(json.dumps({"c": contact_id, "n": nonce, "e": until}).encode())
    signature = links.private_key(settings, "contact").sign(_DOMAIN + body.encode())
    return f"{body}.{_b64(signature)}"


class LinkRefused(Exception):
    def __init__(self, reason: Literal["invalid", "expired"]) -> None:
        super().__init__(reason)
        self.reason = reason


def verify(settings: Settings, token: str, now: float | None = None) -> tuple[str, str]:
    """(contact_id, nonce) of a valid, unexpired link."""
    body, _, signature = token[:1000].partition(".")
    try:
        links.public_key(settings, "contact").verify(_unb64(signature), _DOMAIN + body.encode())
        data = json.loads(_unb64(body))
    except (InvalidSignature, ValueError, TypeError, binascii.Error):
        raise LinkRefused("invalid") from None
    if not isinstance(data, dict) or not all(
        isinstance(data.get(k), t) for k, t in (("c", str), ("n", str), ("e", int))
    ):
        raise LinkRefused("invalid")
    if data["e"] < (time.time() if now is None else now):
        raise LinkRefused("expired")
    return data["c"], data["n"]
