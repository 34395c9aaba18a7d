"""Signed, expiring links: notify signs them, intake and routing verify them."""

from __future__ import annotations

from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from opendeur.keys import derive
from opendeur.settings import Settings, parse_duration


class LinkInvalid(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason  # "expired" | "invalid"


def _serializer(settings: Settings, purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(
        derive(settings, "link-signing").hex(), salt=f"opendeur:{purpose}"
    )


def sign(settings: Settings, purpose: str, payload: dict[str, Any]) -> str:
    return _serializer(settings, purpose).dumps(payload)


def verify(settings: Settings, purpose: str, token: str) -> dict[str, Any]:
    max_age = int(parse_duration(settings.link_ttl).total_seconds())
    try:
        data = _serializer(settings, purpose).loads(token, max_age=max_age)
    except SignatureExpired as exc:
        raise LinkInvalid("expired") from exc
    except BadSignature as exc:
        raise LinkInvalid("invalid") from exc
    if not isinstance(data, dict):
        raise LinkInvalid("invalid")
    return data
