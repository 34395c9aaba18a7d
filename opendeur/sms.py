"""The one client of the generic HTTP SMS gateway (OPENDEUR_SMS_*), for notify (contact persons)
and intake (the help-seeker's own confirmation): the body template, the auth header, the
Idempotency-Key, and which answers are worth trying again."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

import httpx

from opendeur.settings import Settings

# httpx logs every request URL at INFO; a gateway URL may carry an API key.
logging.getLogger("httpx").setLevel(logging.WARNING)


class SmsFailure(Exception):
    """The gateway did not take the message; `code` names why (never the number or the text)."""

    def __init__(self, code: str, *, temporary: bool) -> None:
        super().__init__(code)
        self.code = code
        self.temporary = temporary


@dataclass(frozen=True)
class SmsConfig:
    url: str
    auth_header: tuple[str, str] | None = None
    body_template: str = '{"to": "{to}", "text": "{text}"}'

    @classmethod
    def from_settings(
        cls, url: str, auth_header: str | None, body_template: str | None
    ) -> SmsConfig:
        header = None
        if auth_header:
            name, sep, value = auth_header.partition(":")
            if not sep or not name.strip():
                raise ValueError("OPENDEUR_SMS_AUTH_HEADER must look like 'Name: value'")
            header = (name.strip(), value.strip())
        config = cls(url, header, body_template or cls.body_template)
        config.body("+31600000000", "test")  # a broken template fails at start-up, not per message
        return config

    @classmethod
    def of(cls, settings: Settings) -> SmsConfig | None:
        """The gateway of these settings, None when no OPENDEUR_SMS_URL is set."""
        if not settings.sms_url:
            return None
        header = settings.sms_auth_header
        return cls.from_settings(
            settings.sms_url,
            header.get_secret_value() if header else None,
            settings.sms_body_template,
        )

    def body(self, to: str, text: str) -> bytes:
        """The template with {to} and {text} filled in as JSON string contents (escaped)."""

        def inner(value: str) -> str:
            return json.dumps(value)[1:-1]

        filled = self.body_template.replace("{to}", inner(to)).replace("{text}", inner(text))
        json.loads(filled)
        return filled.encode()


async def send(
    config: SmsConfig, to: str, text: str, *, idempotency_key: str, seconds: float = 10.0
) -> None:
    """Post one message. A 2xx is done; 429, 5xx and connection trouble are temporary
    failures, any other answer permanent (SmsFailure). The gateway de-duplicates by
    `idempotency_key`, so a retry after a lost answer sends nothing twice; `seconds` bounds
    the whole exchange."""
    headers = {"Content-Type": "application/json", "Idempotency-Key": idempotency_key}
    if config.auth_header:
        headers[config.auth_header[0]] = config.auth_header[1]
    try:
        async with httpx.AsyncClient(timeout=seconds) as client:
            response = await client.post(config.url, content=config.body(to, text), headers=headers)
    except httpx.HTTPError as exc:
        raise SmsFailure("sms_" + type(exc).__name__.lower(), temporary=True) from None
    status = response.status_code
    if 200 <= status < 300:
        return
    raise SmsFailure(f"sms_http_{status}", temporary=status == 429 or status >= 500)
