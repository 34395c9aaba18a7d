"""Delivery channels behind one small interface: e-mail over SMTP, SMS through the runtime's
generic HTTP gateway client (opendeur/sms.py)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import email.errors
import email.policy
import re
import secrets
import socket
import ssl
import time
from dataclasses import dataclass
from email.charset import QP, Charset
from email.header import Header
from email.message import EmailMessage
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import make_msgid, parseaddr
from typing import Protocol
from urllib.parse import unquote, urlsplit

from opendeur import sms
from opendeur.sms import SmsConfig
from opendeur.tasks import within


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
_LEADING_DOT = re.compile(rb"(?m)^\.")
MAX_REPLY_LINE = 4096
# Defects the stdlib reports that mean the mail cannot say the address (a control character, no
# address at all); others (a non-ASCII or obsolete local part) are judged by what it read.
_FATAL_DEFECTS = (email.errors.NonPrintableDefect, email.errors.HeaderMissingRequiredValue)


class SmtpReply(Exception):
    """The server answered a command with something other than what was expected."""

    def __init__(self, code: int, text: str = "") -> None:
        super().__init__(f"{code} {text}")
        self.code = code


class SmtpDropped(Exception):
    """The connection went away (EOF, reset, a garbled reply)."""


class SmtpConnection:
    """One SMTP session on asyncio streams, kept open across mails.

    With PIPELINING (RFC 2920) advertised, MAIL, RCPT and DATA go out in one write and their
    three replies are read after it: one round trip less per mail and a third of the wake-ups.
    Whether any byte of a mail's content went out is tracked (`content_sent`), so a session the
    server closed while it was idle is replaced only when that cannot deliver the mail twice."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.extensions: dict[str, str] = {}
        self.content_sent = False

    @classmethod
    async def open(cls, config: SmtpConfig) -> SmtpConnection:
        context = ssl.create_default_context() if config.tls or config.starttls else None
        reader, writer = await asyncio.open_connection(
            config.host, config.port, ssl=context if config.tls else None
        )
        conn = cls(reader, writer)
        try:
            await conn.expect(220)
            await conn.ehlo()
            if config.starttls:
                await conn.command(b"STARTTLS", 220)
                await writer.start_tls(context, server_hostname=config.host)
                await conn.ehlo()
            if config.username:
                await conn.login(config.username, config.password or "")
        except BaseException:
            conn.close()
            raise
        return conn

    @property
    def pipelining(self) -> bool:
        return "pipelining" in self.extensions

    def supports(self, extension: str) -> bool:
        return extension.lower() in self.extensions

    async def reply(self) -> tuple[int, str]:
        lines = []
        while True:
            try:
                line = await self.reader.readline()
            except ValueError:  # a line past the stream's limit
                raise SmtpDropped("reply too long") from None
            if not line.endswith(b"\n") or len(line) > MAX_REPLY_LINE or not line[:3].isdigit():
                raise SmtpDropped("no complete reply")
            lines.append(line[4:].strip().decode("utf-8", "replace"))
            if line[3:4] != b"-":
                return int(line[:3]), "\n".join(lines)

    async def expect(self, *codes: int) -> str:
        code, text = await self.reply()
        if code not in codes:
            raise SmtpReply(code, text)
        return text

    async def command(self, line: bytes, *codes: int) -> str:
        self.writer.write(line + b"\r\n")
        return await self.expect(*codes)

    async def ehlo(self) -> None:
        try:
            text = await self.command(b"EHLO " + socket.gethostname().encode("idna"), 250)
        except SmtpReply:
            await self.command(b"HELO " + socket.gethostname().encode("idna"), 250)
            self.extensions = {}
            return
        self.extensions = {}
        for line in text.split("\n")[1:]:
            name, _, params = line.partition(" ")
            self.extensions[name.lower()] = params

    async def login(self, username: str, password: str) -> None:
        methods = self.extensions.get("auth", "").upper().split()
        if "PLAIN" in methods or not methods:
            token = base64.b64encode(f"\0{username}\0{password}".encode()).decode()
            await self.command(f"AUTH PLAIN {token}".encode(), 235)
            return
        await self.command(b"AUTH LOGIN", 334)
        await self.command(base64.b64encode(username.encode()), 334)
        await self.command(base64.b64encode(password.encode()), 235)

    async def mail(self, sender: str, to: str, content: bytes, utf8: bool) -> None:
        """One transaction: MAIL, RCPT, DATA (pipelined where offered), then the content."""
        self.content_sent = False
        encoding = "utf-8" if utf8 else "ascii"
        options = b" SMTPUTF8" if utf8 else b""
        if self.supports("8bitmime"):
            options += b" BODY=8BITMIME"
        envelope = [
            b"MAIL FROM:<" + sender.encode(encoding) + b">" + options,
            b"RCPT TO:<" + to.encode(encoding) + b">",
            b"DATA",
        ]
        if self.pipelining:
            self.writer.write(b"".join(c + b"\r\n" for c in envelope))
            replies = [await self.reply() for _ in envelope]
        else:
            replies = []
            for c, ok in zip(envelope, (250, 250, 354), strict=True):
                self.writer.write(c + b"\r\n")
                replies.append(await self.reply())
                if replies[-1][0] not in (ok, 251):
                    break
        failed = next(
            (
                (code, text)
                for (code, text), ok in zip(replies, (250, 250, 354), strict=False)
                if code not in (ok, 251)
            ),
            None,
        )
        if failed is not None:
            if len(replies) == 3 and replies[2][0] == 354:  # DATA taken after all: end it empty
                self.writer.write(b".\r\n")
                await self.reply()
            raise SmtpReply(*failed)
        self.content_sent = True
        self.writer.write(dot_stuffed(content))
        await self.expect(250)

    async def noop(self) -> None:
        await self.command(b"NOOP", 250)

    async def quit(self) -> None:
        with contextlib.suppress(Exception):
            await within(self.command(b"QUIT", 221), 2)
        self.close()

    def close(self) -> None:
        self.writer.close()

    @property
    def is_open(self) -> bool:
        return not self.writer.is_closing() and not self.reader.at_eof()


def one_mailbox(value: str, *, display_name: bool = False) -> bool:
    """Whether the stdlib (which writes every mail with a non-ASCII address) reads `value` as one
    mailbox, the one the envelope names. Notify takes any local part without a space or "@":
    "ä:anna;@example.org" reads as a group (the stdlib then fails with AttributeError),
    "änna,bob@example.org" as two addresses, "ä<anna>@example.org" as "anna" without a domain.
    A local part it reads whole ("ä..b.", '"änna devries"') goes out as it is; `display_name`
    allows "opendeur <noreply@example.org>" (the sender)."""
    try:
        value.encode()  # a lone surrogate cannot go out at all
        header = email.policy.SMTPUTF8.header_factory("To", value)
        groups = header.groups
    except (email.errors.MessageError, AttributeError, IndexError, TypeError, ValueError):
        return False
    if len(groups) != 1 or groups[0].display_name is not None or len(groups[0].addresses) != 1:
        return False
    if any(isinstance(d, _FATAL_DEFECTS) for d in header.defects):
        return False
    (address,) = groups[0].addresses
    if display_name:
        return bool(address.username and address.domain)
    local, _, domain = value.rpartition("@")
    if len(local) > 1 and local[0] == local[-1] == '"':
        local = re.sub(r"\\(.)", r"\1", local[1:-1])
    return not address.display_name and (address.username, address.domain) == (local, domain)


def dot_stuffed(content: bytes) -> bytes:
    """CRLF line ends, a leading dot doubled, and the closing line (RFC 5321 4.5.2)."""
    data = content.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", b"\r\n")
    data = _LEADING_DOT.sub(b"..", data)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data + b".\r\n"


def ascii_mime(
    sender: str, to: str, subject: str, msgid: str, text: str, html: str | None
) -> bytes | None:
    """A mail whose headers are ASCII and fit one line each, written directly: a text part, or
    multipart/alternative with text and html, each quoted-printable UTF-8 (binascii's C
    encoder, 76-character lines, as the stdlib's MIMEText writes them). None for anything else
    (the caller then uses the stdlib). The boundary starts with "=_", which quoted-printable
    never writes (it encodes every "="), so no part can contain it."""
    # The stdlib folds a line over 78 characters at its spaces; a Message-ID has none (the
    # stdlib moves it unbroken to a continuation line), so it stays on its own line here, under
    # the 998 characters every line must stay within.
    headers = (f"From: {sender}", f"To: {to}", f"Subject: {subject}", f"Message-ID: {msgid}")
    limits = (78, 78, 78, 998)
    if any(
        len(h) > limit or not h.isascii() or "\n" in h or "\r" in h
        for h, limit in zip(headers, limits, strict=True)
    ):
        return None
    if "\r" in text or (html and "\r" in html):  # line ends other than \n: the stdlib's way
        return None
    head = "\n".join(headers)

    def part(subtype: str, more: str = "") -> str:
        return (
            f'Content-Type: text/{subtype}; charset="utf-8"\nMIME-Version: 1.0\n'
            f"Content-Transfer-Encoding: quoted-printable\n{more}\n"
        )

    def qp(body: str) -> bytes:
        return binascii.b2a_qp(body.encode(), istext=True)

    if not html:
        return part("plain", f"{head}\n").encode() + qp(text)
    boundary = f"=_{secrets.token_hex(16)}"
    return b"".join(
        (
            f'Content-Type: multipart/alternative;\n boundary="{boundary}"\n'
            f"MIME-Version: 1.0\n{head}\n\n--{boundary}\n{part('plain')}".encode(),
            qp(text),
            f"\n--{boundary}\n{part('html')}".encode(),
            qp(html),
            f"\n--{boundary}--\n".encode(),
        )
    )


class EmailChannel:
    """E-mail over a small pool of long-lived SMTP sessions (opening one per mail costs a TCP and
    EHLO round trip and about half of notify's CPU per mail), each reused mail after mail and
    pipelined where the server offers it. Several sessions, so a slow recipient's server delays
    only its own mail. A session that errs is dropped, never reused mid-transaction; one the
    server closed while idle is replaced before any of the mail went out, so never twice."""

    name = "email"
    IDLE_CHECK_S = 30.0  # a connection idle longer than this is checked with NOOP before use

    def __init__(
        self, config: SmtpConfig, sender: str, timeout: float = 10.0, pool_size: int = 4
    ) -> None:
        self.config = config
        self.sender = sender
        self.envelope_sender = parseaddr(sender)[1] or sender
        # Judged once: the sender is the channel's for its life (OPENDEUR_SMTP_FROM).
        self.sender_sayable = one_mailbox(sender, display_name=True)
        self.timeout = timeout
        self.pool_size = max(1, pool_size)
        self._idle: list[tuple[SmtpConnection, float]] = []
        self._room: asyncio.Semaphore | None = None
        self.opened = 0  # sessions opened by this channel (for tests and metrics)

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
        """The message as sent, and whether it needs SMTPUTF8. ASCII addresses and subject with
        short header lines (nearly every mail) are written directly (`ascii_mime`, ~50 times
        cheaper than the stdlib's MIME classes, the same structure and encoding); anything else
        goes through the stdlib: compat32's classes, or EmailMessage for SMTPUTF8 addresses."""
        if not (self.sender + to).isascii():
            # The stdlib parses both addresses (the fast path and compat32 write them as given):
            # a recipient it cannot read as a mailbox fails the same way on every try; a sender
            # it cannot read is OPENDEUR_SMTP_FROM, which the operator can mend (retried).
            if not one_mailbox(to):
                raise PermanentFailure("invalid_address")
            if not self.sender_sayable:
                raise TemporaryFailure("invalid_sender")
            built = self._build(to, message, idempotency_key)
            return built.as_bytes(policy=email.policy.SMTPUTF8), True
        msgid = make_msgid(idstring=idempotency_key, domain="opendeur.invalid")
        fast = ascii_mime(self.sender, to, message.subject, msgid, message.text, message.html)
        if fast is not None:
            return fast, False
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
        msg["Message-ID"] = msgid
        return msg.as_bytes(), False

    async def _connect(self) -> SmtpConnection:
        conn = await SmtpConnection.open(self.config)
        self.opened += 1
        return conn

    async def _usable_idle(self) -> SmtpConnection | None:
        """An idle session the server has not closed; stale ones are closed on the way. Nothing
        of a mail has been sent on them yet, so replacing one can never send twice."""
        while self._idle:
            conn, since = self._idle.pop()
            if conn.is_open:
                if time.monotonic() - since < self.IDLE_CHECK_S:
                    return conn
                try:
                    await conn.noop()
                    return conn
                except (SmtpReply, SmtpDropped, OSError, asyncio.IncompleteReadError):
                    pass
            conn.close()
        return None

    async def _transaction(
        self, conn: list[SmtpConnection], reused: bool, to: str, data: bytes, utf8: bool
    ) -> None:
        """The mail on conn[0]; a reused session that turns out closed before any of the mail's
        content went out is replaced once (the mail cannot have been delivered on it)."""
        if utf8 and not conn[0].supports("smtputf8"):
            raise PermanentFailure("smtp_no_smtputf8")
        try:
            await conn[0].mail(self.envelope_sender, to, data, utf8)
        except (SmtpDropped, ConnectionError, asyncio.IncompleteReadError):
            if not reused or conn[0].content_sent:
                raise
            conn[0].close()
            conn[0] = await self._connect()
            await self._transaction(conn, False, to, data, utf8)

    async def send(self, to: str, message: Rendered, *, idempotency_key: str) -> None:
        data, utf8 = self._bytes(to, message, idempotency_key)
        if self._room is None:
            self._room = asyncio.Semaphore(self.pool_size)
        try:
            async with asyncio.timeout(self.timeout):
                await self._room.acquire()
        except TimeoutError:
            raise TemporaryFailure("smtp_pool_timeout") from None
        conn: list[SmtpConnection] = []
        ok = False
        try:
            async with asyncio.timeout(self.timeout):
                idle = await self._usable_idle()
                conn.append(idle or await self._connect())
                await self._transaction(conn, idle is not None, to, data, utf8)
            ok = True
        except SmtpReply as exc:
            code = f"smtp_{exc.code}"
            if 400 <= exc.code < 500:
                raise TemporaryFailure(code) from None
            raise PermanentFailure(code) from None
        except (SmtpDropped, asyncio.IncompleteReadError, ConnectionError):
            raise TemporaryFailure("smtp_disconnected") from None
        except TimeoutError:
            raise TemporaryFailure("smtp_timeout") from None
        except (OSError, ssl.SSLError) as exc:
            raise TemporaryFailure("smtp_" + type(exc).__name__.lower()) from None
        finally:
            if conn and ok:
                self._idle.append((conn[0], time.monotonic()))
            elif conn:  # it failed: drop it rather than reuse a confused session
                conn[0].close()
            self._room.release()

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for conn, _since in idle:
            await conn.quit()


class SmsChannel:
    """SMS through the runtime's one gateway client (opendeur/sms.py), failures as notify's."""

    name = "sms"

    def __init__(self, config: SmsConfig, timeout: float = 10.0) -> None:
        self.config = config
        self.timeout = timeout

    async def send(self, to: str, message: Rendered, *, idempotency_key: str) -> None:
        try:
            await sms.send(
                self.config, to, message.text, idempotency_key=idempotency_key, seconds=self.timeout
            )
        except sms.SmsFailure as exc:
            raise (TemporaryFailure if exc.temporary else PermanentFailure)(exc.code) from None
