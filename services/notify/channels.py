"""Delivery channels behind one small interface: e-mail over SMTP, SMS through a generic HTTP gateway."""

from __future__ import annotations

import json
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Protocol
from urllib.parse import unquote, urlsplit

import aiosmtplib
import httpx


class TemporaryFailure(Exception):
    """Worth trying again later (4xx, connection trouble, time-outs)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class PermanentFailure(Exception):
    """Trying again will not help (5xx from SMTP, other 4xx from the SMS gateway)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str | None = None


class Channel(Protocol):
    name: str

    async def send(self, to: str, message: Rendered, *, idempotency_key: str) -> None: ...


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    starttls: bool = False
    tls: bool = False
    username: str | None = None
    password: str | None = None

    @classmethod
    def from_url(cls, url: str) -> SmtpConfig:
        """smtp://host:port, smtp+starttls://user:pass@host:587, smtps://host:465."""
        parts = urlsplit(url)
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or (465 if parts.scheme == "smtps" else 25),
            starttls=parts.scheme == "smtp+starttls",
            tls=parts.scheme == "smtps",
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )


class EmailChannel:
    name = "email"

    def __init__(self, config: SmtpConfig, sender: str, timeout: float = 10.0) -> None:
        self.config = config
        self.sender = sender
        self.timeout = timeout

    async def send(self, to: str, message: Rendered, *, idempotency_key: str) -> None:
        msg = EmailMessage()
        msg["From"] = self.sender
        msg["To"] = to
        msg["Subject"] = message.subject
        msg["Message-ID"] = make_msgid(idstring=idempotency_key, domain="opendeur.invalid")
        msg.set_content(message.text)
        if message.html:
            msg.add_alternative(message.html, subtype="html")
        c = self.config
        try:
            await aiosmtplib.send(
                msg,
                hostname=c.host,
                port=c.port,
                start_tls=c.starttls,
                use_tls=c.tls,
                username=c.username,
                password=c.password,
                timeout=self.timeout,
            )
        except aiosmtplib.SMTPResponseException as exc:
            code = f"smtp_{exc.code}"
            if 400 <= exc.code < 500:
                raise TemporaryFailure(code) from None
            raise PermanentFailure(code) from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise TemporaryFailure("smtp_" + type(exc).__name__.lower()) from None


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

    def body(self, to: str, text: str) -> bytes:
        """The template with {to} and {text} filled in as JSON string contents (escaped)."""

        def inner(value: str) -> str:
            return json.dumps(value)[1:-1]

        filled = self.body_template.replace("{to}", inner(to)).replace("{text}", inner(text))
        json.loads(filled)
        return filled.encode()


class SmsChannel:
    name = "sms"

    def __init__(self, config: SmsConfig, timeout: float = 10.0) -> None:
        self.config = config
        self.timeout = timeout

    async def send(self, to: str, message: Rendered, *, idempotency_key: str) -> None:
        headers = {"Content-Type": "application/json", "Idempotency-Key": idempotency_key}
        if self.config.auth_header:
            headers[self.config.auth_header[0]] = self.config.auth_header[1]
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                response = await client.post(
                    self.config.url, content=self.config.body(to, message.text), headers=headers
                )
        except httpx.HTTPError as exc:
            raise TemporaryFailure("sms_" + type(exc).__name__.lower()) from None
        status = response.status_code
        if 200 <= status < 300:
            return
        code = f"sms_http_{status}"
        if status == 429 or status >= 500:
            raise TemporaryFailure(code)
        raise PermanentFailure(code)
