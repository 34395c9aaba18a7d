"""Signed, expiring links: notify signs them (Ed25519), intake and routing only verify them."""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re
import time
from typing import Any
from uuid import UUID

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from opendeur.keys import MissingSecret, decode_key, derive, encode_key
from opendeur.settings import Settings

# The key that signs each purpose. Callback links open a help-seeker's phone number (intake);
# contact and group links open a contact person's own pages (routing). With a key pair per
# purpose, a verifier holds only the public half: routing and audit cannot make a callback link.
PURPOSE_KEYS = {"callback": "callback", "contact": "contact", "group": "contact"}
KEYS = ("callback", "contact")
_DOMAIN = b"opendeur-link/v2:"
_UNTIL = re.compile(r"^\d{1,12}$")


class LinkInvalid(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason  # "expired" | "invalid"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def private_key(settings: Settings, key: str) -> Ed25519PrivateKey:
    """Notify's signing key: OPENDEUR_LINK_KEY_<KEY>, else derived from the root secret."""
    given = getattr(settings, f"link_key_{key}")
    if given is not None:
        seed = decode_key(given.get_secret_value(), f"OPENDEUR_LINK_KEY_{key.upper()}")
    elif settings.secret_key is not None:
        seed = derive(settings, f"link-signing:{key}")
    else:
        raise MissingSecret(
            f"OPENDEUR_LINK_KEY_{key.upper()} is not set: this process signs no links"
        )
    return _private_key(seed)


@functools.lru_cache(maxsize=16)
def _private_key(seed: bytes) -> Ed25519PrivateKey:
    """One key object per seed: making it computes the public half (notify signed three links
    per mail and made the key three times, 3 % of its samples)."""
    return Ed25519PrivateKey.from_private_bytes(seed)


def public_key(settings: Settings, key: str) -> Ed25519PublicKey:
    """A verifier's key: OPENDEUR_LINK_VERIFY_<KEY>, else the signing key's public half."""
    given = getattr(settings, f"link_verify_{key}")
    if given:
        return _public_key(decode_key(given, f"OPENDEUR_LINK_VERIFY_{key.upper()}"))
    return private_key(settings, key).public_key()


@functools.lru_cache(maxsize=16)
def _public_key(raw: bytes) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(raw)


def key_settings(settings: Settings, key: str) -> tuple[str, str]:
    """(signing key, public key) as setting values, for `opendeur up` and deployments."""
    private = private_key(settings, key)
    seed = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    return encode_key(seed), encode_key(
        private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    )


def sign(settings: Settings, purpose: str, payload: dict[str, Any]) -> str:
    body = _b64(json.dumps([purpose, int(time.time()), payload], separators=(",", ":")).encode())
    signature = private_key(settings, PURPOSE_KEYS[purpose]).sign(_DOMAIN + body.encode())
    return f"{body}.{_b64(signature)}"


def _verify(settings: Settings, purpose: str, token: str) -> dict[str, Any]:
    body, _, signature = token.partition(".")
    try:
        public_key(settings, PURPOSE_KEYS[purpose]).verify(
            _unb64(signature), _DOMAIN + body.encode()
        )
        kind, issued, data = json.loads(_unb64(body))
    except (InvalidSignature, ValueError, TypeError, binascii.Error):
        raise LinkInvalid("invalid") from None
    if kind != purpose or not isinstance(data, dict) or not isinstance(issued, int):
        raise LinkInvalid("invalid")
    if time.time() - issued > settings.link_ttl.total_seconds():
        raise LinkInvalid("expired")
    return data


def verify(settings: Settings, purpose: str, token: str) -> dict[str, Any]:
    parts = token.split(".")
    if purpose == "callback" and len(parts) in (3, 4):
        # A callback link from the contact's overview page (`delegate`): the contact's own
        # overview link, signed by notify, plus one question id. Intake still checks that the
        # question is this contact's, now, as for any callback link, and opens it only with
        # her PIN ("o": the overview link it came from, which anyone holding it could use).
        overview = ".".join(parts[:2])
        data = _verify(settings, "contact", overview)
        try:
            out: dict[str, Any] = {"q": str(UUID(hex=parts[2])), "c": data["c"], "o": overview}
        except (ValueError, KeyError):
            raise LinkInvalid("invalid") from None
        if len(parts) == 4:
            if not _UNTIL.match(parts[3]):
                raise LinkInvalid("invalid")
            out["e"] = int(parts[3])
        return out
    if len(parts) != 2:
        raise LinkInvalid("invalid")
    return _verify(settings, purpose, token)


def delegate(contact_token: str, question_id: UUID | str, until: int | None = None) -> str:
    """The callback link routing's overview page shows: built from the contact's own overview
    link, so routing, which holds no signing key, makes no link for anyone else. `until` only
    shortens it (intake refuses it after that time)."""
    token = f"{contact_token}.{UUID(str(question_id)).hex}"
    return token if until is None else f"{token}.{int(until)}"
