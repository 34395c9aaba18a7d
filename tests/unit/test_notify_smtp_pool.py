"""Notify's SMTP sessions against a real aiosmtpd sink behind a counting TCP relay: one session
reused mail after mail, MAIL/RCPT/DATA in one write where PIPELINING is offered, and a session
the server dropped replaced without losing or repeating a mail."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from opendeur.embedded import free_port
from services.notify.channels import EmailChannel, Rendered, SmtpConfig, TemporaryFailure
from tests.support import MailSink

MSG = Rendered("Onderwerp", "Tekst\n.\nmet een punt", "<p>Tekst</p>")


class PipeliningSink(MailSink):
    """The test suite's sink, offering PIPELINING (aiosmtpd reads commands line by line anyway)."""

    async def handle_EHLO(self, _server, session, _envelope, hostname, responses) -> list[str]:
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", responses[-1]]  # the last is "250 HELP"


class Relay:
    """A TCP relay in front of the sink: counts connections, keeps what clients wrote per read,
    and can cut every open connection (as a server's idle timeout or a restart does)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.connections = 0
        self.chunks: list[bytes] = []
        self.open: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None

    async def start(self) -> Relay:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        return self

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        self.connections += 1
        server_r, server_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        self.open += [client_w, server_w]

        async def pump(r: asyncio.StreamReader, w: asyncio.StreamWriter, keep: bool) -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while data := await r.read(65536):
                    if keep:
                        self.chunks.append(data)
                    w.write(data)
                    await w.drain()
            w.close()

        await asyncio.gather(pump(client_r, server_w, True), pump(server_r, client_w, False))

    def cut(self) -> None:
        for w in self.open:
            w.close()
        self.open = []

    async def stop(self) -> None:
        self.cut()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


@pytest.fixture
async def relayed() -> AsyncIterator[tuple[PipeliningSink, Relay]]:
    sink = PipeliningSink().start()
    relay = await Relay(sink.port).start()
    yield sink, relay
    await relay.stop()
    sink.stop()


async def test_one_session_carries_mail_after_mail_pipelined(
    relayed: tuple[PipeliningSink, Relay],
) -> None:
    sink, relay = relayed
    channel = EmailChannel(SmtpConfig("127.0.0.1", relay.port), "noreply@test.invalid", timeout=5)
    try:
        for i in range(5):
            await channel.send(f"p{i}@example.org", MSG, idempotency_key=f"k{i}")
    finally:
        await channel.close()
    assert [m.to for m in sink.mails] == [[f"p{i}@example.org"] for i in range(5)]
    assert relay.connections == 1 and channel.opened == 1
    # Each mail's envelope went out in one write: MAIL, RCPT and DATA together.
    envelopes = [c for c in relay.chunks if c.startswith(b"MAIL FROM:")]
    assert len(envelopes) == 5
    assert all(b"\r\nRCPT TO:<" in c and c.endswith(b"\r\nDATA\r\n") for c in envelopes)
    assert all(m.text.replace("\r\n", "\n").rstrip("\n") == MSG.text for m in sink.mails)


async def test_a_dropped_session_is_reopened_and_no_mail_is_lost_or_sent_twice(
    relayed: tuple[PipeliningSink, Relay],
) -> None:
    sink, relay = relayed
    channel = EmailChannel(SmtpConfig("127.0.0.1", relay.port), "noreply@test.invalid", timeout=5)
    try:
        await channel.send("a@example.org", MSG, idempotency_key="a")
        relay.cut()  # the server side goes away while the session is idle
        await channel.send("b@example.org", MSG, idempotency_key="b")
        await channel.send("c@example.org", MSG, idempotency_key="c")
    finally:
        await channel.close()
    assert [m.to for m in sink.mails] == [["a@example.org"], ["b@example.org"], ["c@example.org"]]
    assert relay.connections == 2


async def test_a_session_dropped_unnoticed_is_replaced_before_the_mail_goes_out(
    relayed: tuple[PipeliningSink, Relay],
) -> None:
    """The drop is only seen when the next mail's envelope gets no reply: nothing of that mail
    went out yet, so it goes once on a new session."""
    sink, relay = relayed
    channel = EmailChannel(SmtpConfig("127.0.0.1", relay.port), "noreply@test.invalid", timeout=5)
    try:
        await channel.send("a@example.org", MSG, idempotency_key="a")
        ((conn, _since),) = channel._idle
        conn.reader.at_eof = lambda: False  # type: ignore[method-assign]  # EOF not yet seen
        relay.cut()
        await channel.send("b@example.org", MSG, idempotency_key="b")
    finally:
        await channel.close()
    assert [m.to for m in sink.mails] == [["a@example.org"], ["b@example.org"]]
    assert relay.connections == 2


async def test_a_refusal_mid_session_is_reported_and_the_next_mail_goes(
    relayed: tuple[PipeliningSink, Relay],
) -> None:
    sink, relay = relayed
    channel = EmailChannel(SmtpConfig("127.0.0.1", relay.port), "noreply@test.invalid", timeout=5)
    try:
        sink.reply_codes.append("451 4.3.0 try again")
        with pytest.raises(TemporaryFailure) as got:
            await channel.send("a@example.org", MSG, idempotency_key="a")
        assert got.value.code == "smtp_451"
        await channel.send("b@example.org", MSG, idempotency_key="b")
    finally:
        await channel.close()
    assert [m.to for m in sink.mails] == [["b@example.org"]]
