"""The delivery worker: takes due notifications from the queue table, sends a bounded number at once, retries with backoff."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from contracts.events import ContactNotified, NotificationFailed
from opendeur import backoff, links, metrics, outbox
from opendeur.db import autocommit
from opendeur.keys import Envelope
from opendeur.logging import get_logger
from opendeur.runtime import Runtime
from opendeur.settings import Settings, parse_duration
from opendeur.sms import SmsConfig
from opendeur.tasks import woken
from services.notify import messages, store
from services.notify.channels import (
    EmailChannel,
    PermanentFailure,
    Rendered,
    SmsChannel,
    SmtpConfig,
    TemporaryFailure,
)
from services.notify.labels import TopicLabels

log = get_logger(component="notify")
TEAM = "team"
ChannelName = Literal["email", "sms"]


@dataclass(frozen=True)
class NotifyConfig:
    """Notify's delivery settings, taken from Settings (OPENDEUR_NOTIFY_* and OPENDEUR_SMS_*)."""

    retry_base: float = backoff.DEFAULT_BASE
    max_attempts: int = backoff.MAX_ATTEMPTS
    concurrency: int = 16
    send_timeout: float = 10.0
    poll_seconds: float = 1.0
    in_flight_seconds: float = 300.0
    digest_hour: int | None = 8
    sms: SmsConfig | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> NotifyConfig:
        """From the one Settings (OPENDEUR_NOTIFY_*, OPENDEUR_SMS_*; validated there)."""
        return cls(
            retry_base=settings.notify_retry_base.total_seconds(),
            concurrency=settings.notify_concurrency,
            send_timeout=settings.notify_send_timeout.total_seconds(),
            # How long a send may stay unrecorded before the team is asked to check it by hand.
            in_flight_seconds=settings.notify_stuck_after.total_seconds(),
            digest_hour=settings.notify_digest_hour,
            sms=SmsConfig.of(settings),
        )


class DeliveryError(Exception):
    def __init__(self, code: str, channel: ChannelName, temporary: bool) -> None:
        super().__init__(code)
        self.code, self.channel, self.temporary = code, channel, temporary


class Finisher:
    """Records how sends ended, many in one statement: a send that ends while a write is under
    way waits for the next one, which takes everything that ended meanwhile (group commit). Each
    outcome is still atomic with its event; a send waits for at most the write under way and
    its own. A failed write fails the sends it took (each is retried or swept as before)."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.waiting: list[tuple[store.Outcome, asyncio.Future[bool]]] = []
        self.writer: asyncio.Task | None = None

    async def finish(self, outcome: store.Outcome) -> bool:
        """Record the outcome; False when the job was no longer being sent (reported uncertain)."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.waiting.append((outcome, future))
        if self.writer is None or self.writer.done():
            self.writer = asyncio.create_task(self._write())
        return await future

    async def _write(self) -> None:
        while self.waiting:
            batch, self.waiting = self.waiting, []
            try:
                async with autocommit(self.rt.engine) as conn:
                    done = await store.finish(conn, [o for o, _ in batch])
            except Exception as exc:  # the database: each send's task sees it, as before
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            except BaseException:  # the writer was cancelled (shutdown): so are the sends waiting
                for _, future in batch:
                    future.cancel()
                raise
            # Committed: the relay publishes the events as they are.
            outbox.hand_over(
                self.rt.engine,
                [outbox.Staged.of(done[o.key], o.event) for o, _ in batch if o.key in done],
            )
            for outcome, future in batch:
                if not future.done():
                    future.set_result(outcome.key in done)


# A contact's own links are reused for this long (`Dispatcher.reused`), for this many contacts.
LINK_REUSE_S = 600.0
LINKS_KEPT = 10_000


def may_have_left_jobs(room: int, claimed: int) -> bool:
    """Whether a claim with `room` free places that got `claimed` jobs may have left due jobs in
    the queue: it had no room, or it filled every place it had."""
    return room <= 0 or claimed >= room


class Dispatcher:
    """Claims due jobs (skip locked, so several notify instances share the queue) and sends each
    in its own task, at most `concurrency` at once: a slow server delays only its own mail."""

    def __init__(self, rt: Runtime, config: NotifyConfig) -> None:
        self.rt = rt
        self.config = config
        self.envelope = Envelope.for_service(rt.settings, "notify")
        self.labels = TopicLabels(f"{rt.settings.base_url('routing')}/api/v1/topics")
        self.wake = asyncio.Event()
        self.tasks: set[asyncio.Task] = set()
        self._email: EmailChannel | None = None
        self.finisher = Finisher(rt)
        self._links: dict[tuple[str, ...], tuple[str, float]] = {}
        # Whether the last claim may have left due jobs behind (no room for them): only then
        # does a finished send wake the loop to claim again. After a claim that found fewer
        # than it had room for, a send's end would claim nothing: one transaction per mail for
        # nought at a low rate (docs/performance.md). New jobs wake it themselves (after_commit);
        # a retry coming due, or a job another instance's claim skipped, waits for the poll.
        self.more_due = False

    async def run(self) -> None:
        try:
            while True:
                self.wake.clear()
                room = self.config.concurrency - len(self.tasks)
                jobs: list[store.Job] = []
                if room > 0:
                    claimed: list[store.Job] = []
                    try:
                        async with self.rt.sessions() as session, session.begin():
                            claimed = await store.claim_due(session, room)
                        # Only a claim whose COMMIT came back is sent: when the COMMIT fails
                        # (the connection lost) the rows may still be queued, and another
                        # claim would send them a second time (a helper's review).
                        jobs = claimed
                    except Exception as exc:
                        log.warning("queue_unavailable", error=type(exc).__name__)
                        await self.unclaim(claimed)
                for job in jobs:
                    task = asyncio.create_task(self.attempt(job))
                    self.tasks.add(task)
                    task.add_done_callback(self._done)
                self.more_due = may_have_left_jobs(room, len(jobs))
                if jobs and len(jobs) == room:
                    continue
                await woken(self.wake, self.config.poll_seconds)
        finally:
            # Let sends in progress finish; what does not finish is swept as uncertain later.
            if self.tasks:
                await asyncio.wait(self.tasks, timeout=10)
            if self._email is not None:
                await self._email.close()

    async def unclaim(self, jobs: list[store.Job]) -> None:
        """After a claim whose COMMIT raised: if it did commit, its jobs go back to the queue
        (a later claim sends them), else nothing changes. When that fails too, they are swept as
        uncertain after OPENDEUR_NOTIFY_STUCK_AFTER, as after a crash."""
        if not jobs:
            return
        try:
            async with self.rt.sessions() as session, session.begin():
                await store.unclaim(session, jobs)
        except Exception as exc:
            log.warning("unclaim_failed", error=type(exc).__name__, jobs=len(jobs))

    def _done(self, task: asyncio.Task) -> None:
        self.tasks.discard(task)
        if self.more_due:
            self.wake.set()

    async def attempt(self, job: store.Job) -> None:
        try:
            channel = await self.send(job)
        except DeliveryError as exc:
            if exc.temporary and backoff.should_retry(job.attempts, self.config.max_attempts):
                wait = backoff.delay(job.attempts, self.config.retry_base)
                async with self.rt.sessions() as session, session.begin():
                    await store.retry_later(session, job, wait, exc.code)
                log.warning(
                    "notification_retry",
                    question_id=str(job.question_id),
                    purpose=job.purpose,
                    attempt=job.attempts,
                    error_code=exc.code,
                    retry_in=round(wait, 2),
                )
                return
            await self.failed(job, exc.channel, exc.code)
            return
        except Exception as exc:
            # A bug or the database: try again later rather than lose the notification.
            log.exception("notification_error", question_id=str(job.question_id))
            async with self.rt.sessions() as session, session.begin():
                await store.retry_later(
                    session,
                    job,
                    backoff.delay(job.attempts, self.config.retry_base),
                    "error_" + type(exc).__name__.lower(),
                )
            return
        event = ContactNotified(
            question_id=job.question_id,
            contact_id=None if job.contact_id == TEAM else job.contact_id,
            purpose=job.purpose,
            channel=channel,
        )
        finished = await self.finisher.finish(
            store.Outcome(job, outbox.params(event), status="sent", channel=channel)
        )
        if not finished:
            log.warning("sent_after_reported_uncertain", question_id=str(job.question_id))
            return
        metrics.NOTIFICATIONS_SENT.labels(channel=channel, purpose=job.kind).inc()
        log.info(
            "notification_sent",
            question_id=str(job.question_id),
            purpose=job.purpose,
            channel=channel,
            attempt=job.attempts,
        )

    async def failed(self, job: store.Job, channel: ChannelName, code: str) -> None:
        event = NotificationFailed(
            question_id=job.question_id,
            contact_id=None if job.contact_id == TEAM else job.contact_id,
            purpose=job.purpose,
            channel=channel,
            error_code=code,
        )
        finished = await self.finisher.finish(
            store.Outcome(job, outbox.params(event), "failed", channel, error_code=code)
        )
        if not finished:
            log.warning("failed_after_reported_uncertain", question_id=str(job.question_id))
            return
        metrics.NOTIFICATIONS_FAILED.labels(channel=channel, reason=code).inc()
        log.warning(
            "notification_failed",
            question_id=str(job.question_id),
            purpose=job.purpose,
            channel=channel,
            error_code=code,
            attempt=job.attempts,
        )

    def email(self) -> EmailChannel:
        """One channel for the process: its SMTP connections are kept and reused."""
        if not self.rt.settings.smtp_url:
            raise PermanentFailure("smtp_not_configured")
        if self._email is None:
            self._email = EmailChannel(
                SmtpConfig.from_url(self.rt.settings.smtp_url),
                self.rt.settings.smtp_from,
                timeout=self.config.send_timeout,
                pool_size=min(8, self.config.concurrency),
            )
        return self._email

    def sms(self) -> SmsChannel:
        if self.config.sms is None:
            raise PermanentFailure("sms_not_configured")
        return SmsChannel(self.config.sms, timeout=self.config.send_timeout)

    async def send(self, job: store.Job) -> ChannelName:
        """Try the contact's preferred channel, then the other one if it fails permanently."""
        key = f"{job.question_id}.{job.purpose}"
        if job.contact_id == TEAM:
            rendered = self.render_team(job)
            await self.deliver("email", self.rt.settings.team_email, rendered, key)
            return "email"
        if job.contact_row is not None:  # read with the claim
            contact = store.address(self.envelope, job.contact_id, job.contact_row)
        else:
            async with self.rt.sessions() as session:
                contact = await store.get_contact(session, self.envelope, job.contact_id)
        if contact is None:
            raise DeliveryError("no_address", "email", temporary=False)
        addresses: dict[ChannelName, str | None] = {"email": contact.email, "sms": contact.mobile}
        preferred: ChannelName = "sms" if contact.channel == "sms" else "email"
        order = [preferred, "email" if preferred == "sms" else "sms"]
        usable = [c for c in order if addresses[c]]
        if not usable:
            raise DeliveryError("no_address", preferred, temporary=False)
        last: DeliveryError | None = None
        for name in usable:
            if name != job.channel:  # a fallback, or a claim before the address changed
                async with autocommit(self.rt.engine) as conn:
                    await store.set_channel(conn, job, name)
            rendered = await self.render(job, contact.language, name)
            try:
                await self.deliver(name, addresses[name] or "", rendered, key)
                return name
            except DeliveryError as exc:
                if exc.temporary:
                    raise
                log.warning(
                    "channel_failed",
                    question_id=str(job.question_id),
                    channel=name,
                    error_code=exc.code,
                )
                last = exc
        assert last is not None
        raise last

    async def deliver(self, name: ChannelName, to: str, rendered: Rendered, key: str) -> None:
        try:
            channel = self.email() if name == "email" else self.sms()
            await channel.send(to, rendered, idempotency_key=key)
        except TemporaryFailure as exc:
            raise DeliveryError(exc.code, name, temporary=True) from None
        except PermanentFailure as exc:
            raise DeliveryError(exc.code, name, temporary=False) from None

    def callback_link(self, job: store.Job) -> str:
        """Signed with its end ("e"): the question's deadline plus OPENDEUR_LINK_GRACE (a contact
        assigned after the deadline gets a full deadline from now), as intake checks it."""
        before = datetime.fromisoformat(job.payload["respond_before"])
        now = datetime.now(UTC)
        end = (now + self.rt.settings.deadline if now >= before else before) + parse_duration(
            self.rt.settings.link_grace
        )
        token = links.sign(
            self.rt.settings,
            "callback",
            {"q": str(job.question_id), "c": job.contact_id, "e": int(end.timestamp())},
        )
        return f"{self.rt.settings.base_url('intake')}/c/{token}"

    def pause_link(self, group_id: str | None, contact_id: str) -> str | None:
        if not group_id:
            return None
        token = self.reused(("group", group_id, contact_id), {"g": group_id, "c": contact_id})
        return f"{self.rt.settings.base_url('routing')}/groups/self/{token}"

    def overview_link(self, contact_id: str) -> str:
        token = self.reused(("contact", contact_id), {"c": contact_id})
        return f"{self.rt.settings.base_url('routing')}/contact/{token}"

    def reused(self, key: tuple[str, ...], payload: dict[str, str]) -> str:
        """A contact's own link (overview, pause), signed once for the mails of the next few
        minutes: each Ed25519 signature cost ~31 µs, three per mail. A reused link was issued up
        to LINK_REUSE_S (at most 1 % of OPENDEUR_LINK_TTL) before its mail, and lives that much
        less; the question's callback link is signed for each mail."""
        now = time.time()  # the links' own clock: their life counts from it (not a monotonic
        # clock, which stops while the machine sleeps)
        window = min(LINK_REUSE_S, 0.01 * self.rt.settings.link_ttl.total_seconds())
        kept = self._links.get(key)
        if kept is not None and 0 <= now - kept[1] < window:
            return kept[0]
        if len(self._links) >= LINKS_KEPT:
            self._links.clear()
        token = links.sign(self.rt.settings, key[0], payload)
        self._links[key] = (token, now)
        return token

    async def render(self, job: store.Job, lang: str, channel: ChannelName) -> Rendered:
        p = job.payload
        lang = "en" if lang == "en" else "nl"
        respond_before = datetime.fromisoformat(p["respond_before"])
        label = await self.labels.label(p.get("topic"), lang)
        reminder = job.kind == "reminder"
        # Said only when it differs from the contact's own (routing found nobody who speaks it).
        asker = p.get("asker_language")
        asker = asker if asker and asker != lang else None
        if channel == "sms":
            return messages.sms_text(
                lang=lang,
                reference=p["reference"],
                topic_label=label,
                respond_before=respond_before,
                link=self.callback_link(job),
                overview_link=self.overview_link(job.contact_id),
                reminder=reminder,
                asker_language=asker,
            )
        return messages.new_question(
            lang=lang,
            reference=p["reference"],
            topic_label=label,
            channel=p.get("channel", "web"),
            priority=bool(p.get("priority", False)),
            received_at=datetime.fromisoformat(p.get("received_at") or p["respond_before"]),
            respond_before=respond_before,
            now=datetime.now(UTC),
            link=self.callback_link(job),
            pause_link=self.pause_link(p.get("group_id"), job.contact_id),
            overview_link=self.overview_link(job.contact_id),
            reminder=reminder,
            asker_language=asker,
        )

    def render_team(self, job: store.Job) -> Rendered:
        return messages.team_message(
            reference=job.payload["reference"],
            question_id=str(job.question_id),
            respond_before=datetime.fromisoformat(job.payload["respond_before"]),
        )
