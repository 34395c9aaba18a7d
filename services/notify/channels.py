"""Delivery channels behind one small interface: e-mail over SMTP, SMS through a generic HTTP gateway."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass
from email.charset import QP, Charset
from email.header import Header
from email.message import EmailMessage
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import make_msgid
from typing import Protocol
from urllib.parse import unquote, urlsplit

import aiosmtplib
import httpx
from aiosmtplib.email import flatten_message


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


_UTF8_QP = Charset("utf-8")
_UTF8_QP.body_encoding = QP


class EmailChannel:
    """E-mail over a small pool of long-lived SMTP connections (opening one per mail costs a TCP
    and EHLO round trip and about half of notify's CPU per mail). A connection is reused only
    while the server keeps it open; one that errs is dropped, never reused mid-transaction."""

    name = "email"
    IDLE_CHECK_S = 30.0  # a connection idle longer than this is checked with NOOP before use

    def __init__(
        self, config: SmtpConfig, sender: str, timeout: float = 10.0, pool_size: int = 4
    ) -> None:
        self.config = config
        self.sender = sender
        self.timeout = timeout
        self.pool_size = max(1, pool_size)
        self._idle: list[tuple[aiosmtplib.SMTP, float]] = []
        self._room: asyncio.Semaphore | None = None

    def _build(self, to: str, message: Rendered, idempotency_key: str) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = self.sender
        msg["To"] = to
        msg["Subject"] = message.subject
        msg["Message-ID"] = make_msgid(idstring=idempotency_key, domain="opendeur.invalid")
        msg.set_content(message.text)
        if message.html:
            msg.add_alternative(message.html, subtype="html")
        return msg

    def _bytes(self, to: str, message: Rendered, idempotency_key: str) -> tuple[bytes, bool]:
        """The message as sent, and whether it needs SMTPUTF8. ASCII addresses (nearly all) take
        the compat32 MIME classes, five times cheaper than EmailMessage's header registry and
        the same on the wire: quoted-printable UTF-8 parts, an RFC 2047 subject when needed."""
        if not (self.sender + to).isascii():
            return flatten_message(self._build(to, message, idempotency_key), utf8=True), True
        if message.html:
            msg: MIMEBase = MIMEMultipart("alternative")
            msg.attach(MIMEText(message.text, "plain", _UTF8_QP))
            msg.attach(MIMEText(message.html, "html", _UTF8_QP))
        else:
            msg = MIMEText(message.text, "plain", _UTF8_QP)
        msg["From"] = self.sender
        msg["To"] = to
        subject = message.subject
        msg["Subject"] = subject if subject.isascii() else Header(subject, "utf-8")
        msg["Message-ID"] = make_msgid(idstring=idempotency_key, domain="opendeur.invalid")
        return msg.as_bytes(), False

    async def _connect(self) -> aiosmtplib.SMTP:
        c = self.config
        smtp = aiosmtplib.SMTP(
            hostname=c.host,
            port=c.port,
            start_tls=c.starttls,
            use_tls=c.tls,
            username=c.username,
            password=c.password,
            timeout=self.timeout,
        )
        await smtp.connect()
        return smtp

    async def _usable_idle(self) -> aiosmtplib.SMTP | None:
        """An idle connection the server has not closed; stale ones are closed on the way.
        Nothing of a mail has been sent on them yet, so replacing one can never send twice."""
        while self._idle:
            smtp, since = self._idle.pop()
            if smtp.is_connected:
                if time.monotonic() - since < self.IDLE_CHECK_S:
                    return smtp
                try:
                    await smtp.noop()
                    return smtp
                except (aiosmtplib.SMTPException, OSError, TimeoutError):
                    pass
            smtp.close()
        return None

    async def _transaction(
        self, conn: list[aiosmtplib.SMTP], reused: bool, to: str, data: bytes, utf8: bool
    ) -> None:
        """MAIL, RCPT, DATA on conn[0] (what aiosmtplib.send_message does), so that a reused
        connection the server has closed meanwhile is replaced at MAIL, before any part of this
        mail was sent: replacing it there can never deliver the mail twice."""
        smtp = conn[0]
        encoding = "utf-8" if utf8 else "ascii"
        options = ["SMTPUTF8"] if utf8 else []
        try:
            await smtp._ehlo_or_helo_if_needed()
            if smtp.supports_extension("8BITMIME"):
                options.append("BODY=8BITMIME")
            await smtp.mail(self.sender, options=options, encoding=encoding)
        except (aiosmtplib.SMTPServerDisconnected, ConnectionError):
            if not reused:
                raise
            smtp.close()
            conn[0] = await self._connect()
            return await self._transaction(conn, False, to, data, utf8)
        if utf8 and not smtp.supports_extension("smtputf8"):
            raise aiosmtplib.SMTPNotSupported("non-ASCII address, no SMTPUTF8")
        try:
            await smtp.rcpt(to, encoding=encoding)
        except aiosmtplib.SMTPRecipientRefused:
            # As aiosmtplib.send classified it before: SMTPRecipientsRefused, temporary.
            raise aiosmtplib.SMTPRecipientsRefused([]) from None
        await smtp.data(data)

    async def send(self, to: str, message: Rendered, *, idempotency_key: str) -> None:
        data, utf8 = self._bytes(to, message, idempotency_key)
        if self._room is None:
            self._room = asyncio.Semaphore(self.pool_size)
        try:
            async with asyncio.timeout(self.timeout):
                await self._room.acquire()
        except TimeoutError:
            raise TemporaryFailure("smtp_pool_timeout") from None
        conn: list[aiosmtplib.SMTP] = []
        ok = False
        try:
            idle = await self._usable_idle()
            conn.append(idle or await self._connect())
            await self._transaction(conn, idle is not None, to, data, utf8)
            ok = True
        except aiosmtplib.SMTPResponseException as exc:
            code = f"smtp_{exc.code}"
            if 400 <= exc.code < 500:
                raise TemporaryFailure(code) from None
            raise PermanentFailure(code) from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise TemporaryFailure("smtp_" + type(exc).__name__.lower()) from None
        finally:
            if conn and ok:
                self._idle.append((conn[0], time.monotonic()))
            elif conn:  # it failed: drop it rather than reuse a confused session
                conn[0].close()
            self._room.release()

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for smtp, _since in idle:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(smtp.quit(), 2)
            smtp.close()


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
