"""Channels against real servers: an HTTP SMS gateway (http.server) and an SMTP sink (aiosmtpd)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

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
