"""Delivery channels behind one small interface: e-mail over SMTP (SMS joins in issue 5)."""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from urllib.parse import unquote, urlsplit

import aiosmtplib


class TemporaryFailure(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class PermanentFailure(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str | None = None


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

    def __init__(self, config: SmtpConfig, sender: str, timeout: float = 15.0) -> None:
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
