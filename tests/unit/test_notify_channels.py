"""Channels against real servers: an HTTP SMS gateway (http.server) and an SMTP sink (aiosmtpd)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from opendeur.embedded import free_port
from services.notify.channels import (
    EmailChannel,
    PermanentFailure,
    Rendered,
    SmsChannel,
    SmsConfig,
    SmtpConfig,
    TemporaryFailure,
)
from tests.support import Gateway, MailSink


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    with Gateway() as g:
        yield g


MSG = Rendered(subject="s", text='Nieuwe vraag "rouw": http://x/c/t')


def sms(gateway: Gateway) -> SmsChannel:
    config = SmsConfig.from_settings(
        gateway.url, "Authorization: Bearer s3cret", '{"recipient": "{to}", "body": "{text}"}'
    )
    return SmsChannel(config, timeout=2)


async def test_sms_posts_the_template_with_auth_and_idempotency_key(gateway: Gateway) -> None:
    await sms(gateway).send("+31612345678", MSG, idempotency_key="q1.new_question.1")
    headers, body = gateway.requests[0]
    assert body == {"recipient": "+31612345678", "body": MSG.text}
    assert headers["Authorization"] == "Bearer s3cret"
    assert headers["Idempotency-Key"] == "q1.new_question.1"


@pytest.mark.parametrize("status", [429, 500, 503])
async def test_sms_429_and_5xx_are_temporary(gateway: Gateway, status: int) -> None:
    gateway.statuses.append(status)
    with pytest.raises(TemporaryFailure) as exc:
        await sms(gateway).send("+31612345678", MSG, idempotency_key="k")
    assert exc.value.code == f"sms_http_{status}"


@pytest.mark.parametrize("status", [400, 401, 404, 422])
async def test_sms_other_4xx_are_permanent(gateway: Gateway, status: int) -> None:
    gateway.statuses.append(status)
    with pytest.raises(PermanentFailure):
        await sms(gateway).send("+31612345678", MSG, idempotency_key="k")


async def test_sms_gateway_down_is_temporary() -> None:
    config = SmsConfig.from_settings(f"http://127.0.0.1:{free_port()}/send", None, None)
    with pytest.raises(TemporaryFailure):
        await SmsChannel(config, timeout=2).send("+31612345678", MSG, idempotency_key="k")


@pytest.fixture
def sink() -> Iterator[MailSink]:
    s = MailSink().start()
    yield s
    s.stop()


def email(sink: MailSink) -> EmailChannel:
    return EmailChannel(SmtpConfig.from_url(sink.url), "noreply@test.invalid", timeout=3)


async def test_smtp_4xx_is_temporary_5xx_permanent(sink: MailSink) -> None:
    sink.reply_codes += ["451 4.3.0 try again", "550 5.1.1 no such user"]
    with pytest.raises(TemporaryFailure) as temp:
        await email(sink).send("a@example.org", MSG, idempotency_key="k")
    with pytest.raises(PermanentFailure) as perm:
        await email(sink).send("a@example.org", MSG, idempotency_key="k")
    assert (temp.value.code, perm.value.code) == ("smtp_451", "smtp_550")
    await email(sink).send("a@example.org", Rendered("s", "t", "<p>t</p>"), idempotency_key="k")
    assert len(sink.mails) == 1 and b"text/html" in sink.mails[0].raw


async def test_smtp_server_down_is_temporary() -> None:
    channel = EmailChannel(SmtpConfig("127.0.0.1", free_port()), "x@test.invalid", timeout=2)
    with pytest.raises(TemporaryFailure):
        await channel.send("a@example.org", MSG, idempotency_key="k")


async def test_smtp_connection_is_reused_across_mails(sink: MailSink) -> None:
    channel = email(sink)
    try:
        await channel.send("a@example.org", MSG, idempotency_key="k1")
        ((first, _),) = channel._idle
        await channel.send("b@example.org", MSG, idempotency_key="k2")
        await channel.send("c@example.org", MSG, idempotency_key="k3")
        assert [c for c, _ in channel._idle] == [first]
        assert [m.to for m in sink.mails] == [
            ["a@example.org"],
            ["b@example.org"],
            ["c@example.org"],
        ]
    finally:
        await channel.close()


async def test_smtp_reconnects_when_the_server_closed_the_connection() -> None:
    port = free_port()
    first = MailSink()
    first.port, first.controller.port = port, port
    first.start()
    channel = EmailChannel(SmtpConfig("127.0.0.1", port), "x@test.invalid", timeout=3)
    try:
        await channel.send("a@example.org", MSG, idempotency_key="k1")
        first.stop()  # the server goes away with our idle connection
        second = MailSink()
        second.port, second.controller.port = port, port
        second.start()
        try:
            await channel.send("b@example.org", MSG, idempotency_key="k2")
        finally:
            second.stop()
        assert [m.to for m in first.mails + second.mails] == [["a@example.org"], ["b@example.org"]]
    finally:
        await channel.close()


async def test_smtp_failed_connection_is_dropped_not_reused(sink: MailSink) -> None:
    channel = email(sink)
    try:
        await channel.send("a@example.org", MSG, idempotency_key="k1")
        sink.reply_codes.append("451 4.3.0 try again")
        with pytest.raises(TemporaryFailure):
            await channel.send("b@example.org", MSG, idempotency_key="k2")
        assert channel._idle == []
        await channel.send("c@example.org", MSG, idempotency_key="k3")
        assert [m.to for m in sink.mails] == [["a@example.org"], ["c@example.org"]]
    finally:
        await channel.close()


async def test_smtp_message_round_trips_non_ascii_subject_and_body(sink: MailSink) -> None:
    channel = email(sink)
    try:
        text = "Bel graag terug vóór morgen — " + "x" * 200 + "\n.\nlaatste regel"
        await channel.send(
            "a@example.org",
            Rendered("Vraag óver rouw (OD-AAAA-BBBB)", text, "<p>vóór</p>"),
            idempotency_key="q1.new_question.1",
        )
        mail = sink.mails[0]
        assert mail.subject == "Vraag óver rouw (OD-AAAA-BBBB)"
        assert mail.text.replace("\r\n", "\n").rstrip("\n") == text
        assert b"q1.new_question.1" in mail.raw and b"text/html" in mail.raw
    finally:
        await channel.close()


# -- the mail's bytes: written directly, read back as the stdlib writes them -------------------

_BODY = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")) | st.sampled_from("\n \t.="),
    max_size=400,
)


def _read(raw: bytes) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """Headers and (type, decoded text) of each text part, as a mail client reads them."""
    import email
    import email.policy

    msg = email.message_from_bytes(raw, policy=email.policy.default)
    heads = {k: str(msg[k]).strip() for k in ("From", "To", "Subject", "Message-ID")}
    parts = [(p.get_content_type(), p.get_content()) for p in msg.walk() if not p.is_multipart()]
    return heads, parts


def _stdlib(sender: str, to: str, subject: str, msgid: str, text: str, html: str | None) -> bytes:
    from email.mime.base import MIMEBase
    from email.mime.multipart import MIMEMultipart
    from email.mime.text import MIMEText

    from services.notify.channels import _UTF8_QP

    msg: MIMEBase
    if html:
        msg = MIMEMultipart("alternative")
        msg.attach(MIMEText(text, "plain", _UTF8_QP))
        msg.attach(MIMEText(html, "html", _UTF8_QP))
    else:
        msg = MIMEText(text, "plain", _UTF8_QP)
    msg["From"], msg["To"], msg["Subject"], msg["Message-ID"] = sender, to, subject, msgid
    return msg.as_bytes()


@settings(max_examples=300, deadline=None)
@given(
    text=_BODY,
    html=st.none() | _BODY.filter(bool),
    subject=st.from_regex(r"[ -~]{1,60}", fullmatch=True),
)
def test_a_mail_written_directly_reads_back_as_the_stdlibs(
    text: str, html: str | None, subject: str
) -> None:
    """Any body (accents, emoji, '=', tabs, a lone dot, long lines) reads back the same from the
    direct bytes as from the stdlib's MIME classes: headers, part types, decoded text."""
    from services.notify.channels import ascii_mime

    subject = subject.strip() or "Vraag"
    args = ("netwerk@example.org", "anna@example.org", subject, "<1.k@opendeur.invalid>")
    fast = ascii_mime(*args, text, html)
    assert fast is not None
    assert all(len(line) <= 78 for line in fast.split(b"\n")), "a line longer than QP allows"
    assert fast.isascii()
    assert _read(fast) == _read(_stdlib(*args, text, html))


def test_a_real_message_id_is_written_whole_and_the_mail_is_written_directly() -> None:
    """make_msgid with the delivery's key is ~100 characters: no space to fold at, so the stdlib
    leaves it unbroken too (on a line of its own); it must not send every mail the slow way."""
    from email.utils import make_msgid

    from services.notify.channels import ascii_mime

    key = "0193a4b2-7d9c-7b3e-a6f0-d2fd4b3a9c1e.new_question.1"
    msgid = make_msgid(idstring=key, domain="opendeur.invalid")
    args = ("netwerk@example.org", "anna@example.org", "Nieuwe vraag OD-ABCD-EFGH", msgid)
    fast = ascii_mime(*args, "Bel terug.\n", "<p>Bel terug.</p>")
    assert fast is not None and len(f"Message-ID: {msgid}") > 78
    assert _read(fast) == _read(_stdlib(*args, "Bel terug.\n", "<p>Bel terug.</p>"))


def test_a_mail_the_direct_writer_does_not_take_goes_through_the_stdlib() -> None:
    from services.notify.channels import ascii_mime

    long_subject = "Nieuwe vraag over " + "rouw en verlies " * 5
    for subject in ("Vraag óver rouw", long_subject, "Vraag\r\nBcc: x@example.org"):
        assert ascii_mime("n@example.org", "a@example.org", subject, "<m@x>", "t", None) is None


# -- addresses notify takes that a mail cannot say ----------------------------------------------

# Addresses notify's EMAIL pattern takes (any local part without a space or "@"; clean_email
# now refuses them, but addresses stored earlier may be such) that the stdlib reads as something
# else: a group (it failed with AttributeError, retried on every back-off for ever), two
# addresses, a display name without a domain, an encoded word.
UNSAYABLE = [
    "ä:anna;@example.org",
    "änna,bob@example.org",
    "ä<anna>@example.org",
    'änna"@example.org',
    "ä(nna@example.org",
    "=?utf-8?q?anna?=ä@example.org",
]


@pytest.mark.parametrize("to", UNSAYABLE)
async def test_an_address_the_mail_cannot_say_is_a_permanent_failure(
    sink: MailSink, to: str
) -> None:
    from services.notify.api import EMAIL

    assert EMAIL.match(to)
    channel = email(sink)
    try:
        with pytest.raises(PermanentFailure) as failure:
            await channel.send(to, MSG, idempotency_key="k")
        assert failure.value.code == "invalid_address"
        assert sink.mails == [] and channel.opened == 0
    finally:
        await channel.close()


async def test_a_sender_the_mail_cannot_say_is_retried_until_the_setting_is_mended(
    sink: MailSink,
) -> None:
    channel = EmailChannel(SmtpConfig.from_url(sink.url), "ä:netwerk;@example.org", timeout=3)
    with pytest.raises(TemporaryFailure) as failure:
        await channel.send("änna@example.org", MSG, idempotency_key="k")
    assert failure.value.code == "invalid_sender"


@pytest.mark.parametrize(
    "to", ['"änna.devries"@example.org', "änna@bücher.example", "ä..b.@example.org", "ä&b@x.nl"]
)
async def test_an_smtputf8_address_the_mail_can_say_still_goes(sink: MailSink, to: str) -> None:
    channel = EmailChannel(
        SmtpConfig.from_url(sink.url), "opendeur <noreply@test.invalid>", timeout=3
    )
    try:
        await channel.send(to, MSG, idempotency_key="k")
        assert [m.to for m in sink.mails] == [[to.replace('"', "")]]  # the sink unquotes
    finally:
        await channel.close()


# The characters with a meaning in an address header, between bits of anything else.
_LOCAL = st.lists(
    st.sampled_from(list('ä.:;,<>()[]"\\=?')) | st.text(st.characters(codec="utf-8"), max_size=3),
    min_size=1,
    max_size=12,
).map("".join)


@settings(max_examples=500, deadline=None)
@example(local="ä:anna;")
@given(local=_LOCAL)
def test_any_address_notify_takes_is_built_or_refused_as_invalid(local: str) -> None:
    """Never another error (one would be retried for ever as `error_<type>`), and never refused
    when clean_email takes it now."""
    from services.notify.api import EMAIL, clean_email

    to = f"{local}@example.org"
    if not EMAIL.match(to):
        return
    channel = EmailChannel(SmtpConfig("127.0.0.1", 25), "opendeur <noreply@test.invalid>")
    try:
        channel._bytes(to, MSG, "k")
    except PermanentFailure as failure:
        assert failure.code == "invalid_address"
        with pytest.raises(ValueError):
            clean_email(to)
