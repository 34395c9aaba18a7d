"""Intake's JSON API: accept a question (with consent), withdraw it."""

from __future__ import annotations

import functools
import secrets
from datetime import UTC, datetime
from typing import Annotated, Literal, get_args
from uuid import UUID

from fastapi import APIRouter, Header, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictBool
from sqlalchemy.ext.asyncio import AsyncSession

from contracts import events
from contracts.events import (
    ConsentWithdrawn,
    QuestionErased,
    QuestionReceived,
    ReferralNoted,
    StaffActed,
    new_id,
)
from opendeur import deadlines, outbox, timefmt
from opendeur.db import autocommit
from opendeur.errors import Refused
from opendeur.keys import Envelope, token_hash
from opendeur.logging import get_logger
from opendeur.runtime import Runtime
from opendeur.settings import Settings, parse_duration
from services.intake import confirmation, crisis, domain, jobs, store, validation
from services.intake.consent import version_for
from services.intake.topics import TopicCatalogue
from services.intake.web.deps import Rt, Topics
from services.intake.web.i18n import error_message, t

log = get_logger(component="intake.api")
# On every response carrying a token or personal data: no browser or proxy cache keeps it.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
# "yes", "somewhat", "no": the contract's answers, in the order the page offers them.
FOLLOWUP_ANSWERS: tuple[str, ...] = get_args(
    events.FollowupAnswered.model_fields["answer"].annotation
)


class ConsentIn(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)
    share_with_contact: StrictBool
    statistics: StrictBool = False


class QuestionIn(BaseModel):
    # hide_input_in_errors: a ValidationError's text (tracebacks, logs) never carries the input.
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)
    channel: Literal["web", "phone"] = "web"
    for_self: StrictBool
    topic: Annotated[str, Field(max_length=48)] | None = None
    story: Annotated[str, Field(max_length=20000)] | None = None
    # As typed or pasted (runs of spaces, dashes, brackets): validation.py normalises them.
    phone: Annotated[str, Field(max_length=validation.RAW_MAX_CHARS)] | None = None
    postcode: Annotated[str, Field(max_length=validation.RAW_MAX_CHARS)] | None = None
    language: Literal["nl", "en"] = "nl"
    consent: ConsentIn
    wants_to_start_group: StrictBool = False
    call_times: Annotated[str, Field(max_length=200)] | None = None
    referrer_kind: Literal["professional", "family", "other", "unknown"] = "unknown"
    # An SMS to `phone` with the reference and the withdraw link, sent later by jobs.py; only
    # where OPENDEUR_SMS_URL is set (else 422 sms_unavailable) and to a number that can take one.
    sms_confirmation: StrictBool = False


class Advice(BaseModel):
    professional_help: bool
    message: str


class Accepted(BaseModel):
    question_id: UUID
    reference: str
    respond_before: AwareDatetime
    withdraw_token: str
    advice: Advice


async def accept_question(rt: Runtime, topics: TopicCatalogue, q: QuestionIn) -> Accepted:
    """Check, store encrypted, and stage question.received.v1 — all in one transaction."""
    lang = q.language
    if not q.for_self:
        async with rt.sessions() as session, session.begin():
            await outbox.add(
                session,
                ReferralNoted(
                    referrer_kind=q.referrer_kind,
                    topic=await topics.known_or_none(q.topic),
                    channel=q.channel,
                ),
            )
        outbox.wake_relay()
        raise Refused(
            "must_self_contact",
            "We can only help when the person asks for themselves. Give them our referral "
            "card (/verwijzen): they can fill in this form or call the network themselves.",
            "for_self",
        )
    if not q.consent.share_with_contact:
        raise Refused(
            "consent_required",
            "Without permission to share your phone number with one contact person, nobody can "
            "call you back.",
            "consent.share_with_contact",
        )
    try:
        if q.phone is None:
            raise validation.FieldError("invalid_phone", "phone")
        phone = validation.normalise_phone(q.phone)
        pc4 = validation.normalise_postcode(q.postcode)
        story = validation.normalise_story(q.story)
        call_times = validation.normalise_story(q.call_times)
    except validation.FieldError as err:
        raise Refused(err.code, error_message(err.code, lang), err.field) from None
    if q.sms_confirmation:
        refused = sms_refusal(rt.settings, phone)
        if refused:
            raise Refused(refused, error_message(refused, lang), "sms_confirmation")
    topic = q.topic or None
    if topic is not None and not await topics.is_known(topic):
        raise Refused(
            "unknown_topic",
            "This topic is not on our list; choose one from GET /api/v1/topics or leave it empty.",
            "topic",
        )

    flagged = crisis.detect_crisis(story)
    now = datetime.now(UTC)
    qid = new_id()
    reference = domain.new_reference()
    withdraw_token = secrets.token_urlsafe(24)
    before = deadlines.respond_before(now, flagged, **deadlines.from_settings(rt.settings))
    row = {
        "question_id": qid,
        "reference": reference,
        "withdraw_token_hash": token_hash(withdraw_token),
        "channel": q.channel,
        "topic": topic,
        "pc4": pc4,
        "language": lang,
        "consent_version": version_for(q.channel),
        "consent_at": now,
        "consent_share": True,
        "consent_statistics": q.consent.statistics,
        "professional_help_advised": flagged,
        "wants_to_start_group": q.wants_to_start_group,
        "received_at": now,
        "respond_before": before,
        "status": "received",
        "erase_after": now + parse_duration(rt.settings.unanswered_retention),
    }
    event = QuestionReceived(
        question_id=qid,
        reference=reference,
        channel=q.channel,
        topic=topic,
        pc4=pc4,
        language=lang,
        professional_help_advised=flagged,
        wants_to_start_group=q.wants_to_start_group,
        consent_version=version_for(q.channel),
        consent_share=True,
        consent_statistics=q.consent.statistics,
        received_at=now,
        respond_before=before,
    )
    sms_text = None
    skipped = sms_allowance(rt.settings).take(phone) if q.sms_confirmation else None
    if q.sms_confirmation and skipped is None:  # composed now: the token is kept only hashed
        link = confirmation.withdraw_url(rt.settings.base_url("intake"), qid, withdraw_token, lang)
        sms_text = confirmation.text(
            lang,
            network=rt.settings.network_name,
            reference=reference,
            respond_before=before,
            link=link,
            crisis=flagged,
        )
    ob = outbox.params(event)
    async with autocommit(rt.engine) as conn:
        row_id = await store.accept(
            conn,
            envelope(rt),
            row,
            store.Personal(phone=phone, story=story, call_times=call_times),
            ob,
            sms_text=sms_text,
        )
    # Committed: the relay publishes it as it is, without taking it from the table first.
    outbox.hand_over(rt.engine, [outbox.Staged.of(row_id, ob)])
    if sms_text is not None:
        jobs.wake_sender()  # never awaited here: the answer does not wait for the gateway
    log.info(
        "question_accepted",
        question_id=str(qid),
        channel=q.channel,
        priority=flagged,
        sms_confirmation=q.sms_confirmation,
        sms_skipped=skipped,  # already one today to this number, or the hour's budget spent
    )
    return Accepted(
        question_id=qid,
        reference=reference,
        respond_before=before,
        withdraw_token=withdraw_token,
        advice=Advice(professional_help=flagged, message=advice(lang, before) if flagged else ""),
    )


@functools.cache
def _allowance(per_hour: int) -> confirmation.Allowance:
    return confirmation.Allowance(per_hour)


def sms_allowance(settings: Settings) -> confirmation.Allowance:
    """This process's count of SMS confirmations (OPENDEUR_SMS_PER_HOUR)."""
    return _allowance(settings.sms_per_hour)


def sms_refusal(settings: Settings, phone: str) -> str | None:
    """Why an SMS confirmation cannot be had (a code), or None: no gateway configured, or a
    number that takes no SMS (a landline, a service number)."""
    if not settings.sms_url:
        return "sms_unavailable"
    if not confirmation.can_receive_sms(phone):
        return "sms_needs_mobile"
    return None


def advice(lang: str, before: datetime) -> str:
    """What a crisis question's sender reads first: 113, 112, the GP, and who calls by when."""
    return t("advice", lang) + " " + t("next_crisis", lang, deadline=timefmt.deadline(before, lang))


@functools.cache
def envelope(rt: Runtime) -> Envelope:
    """The runtime's keyring, built once (parsing the keys and one HKDF each per request
    cost 10-30 µs on every POST and callback page)."""
    return Envelope.for_service(rt.settings, "intake")


async def withdraw(rt: Runtime, qid: UUID, token: str) -> bool:
    """Erase at once; False when the id/token pair does not match a live question."""
    async with rt.sessions() as session, session.begin():
        q = await store.get_question(session, qid, lock=True)
        if (
            q is None
            or q["erased_at"] is not None
            or not secrets.compare_digest(q["withdraw_token_hash"], token_hash(token))
        ):
            return False
        await erase_withdrawn(session, q)
    outbox.wake_relay()
    return True


async def own_link_state(rt: Runtime, qid: UUID, token: str) -> str | None:
    """What her own link stands for now (store.own_link_state): None, waiting, ask, answered."""
    async with rt.sessions() as session:
        return await store.own_link_state(session, qid, token_hash(token))


async def answer_followup(rt: Runtime, qid: UUID, token: str, answer: str) -> bool:
    """Take her answer once. It is published later, shuffled in with the others of its batch
    (jobs.publish_followup_answers), so neither the trail's time nor its order ties it to her
    question; the event names no question (see FollowupAnswered)."""
    if answer not in FOLLOWUP_ANSWERS:
        return False
    async with rt.sessions() as session, session.begin():
        return await store.take_followup_answer(session, qid, token_hash(token), answer)


async def withdraw_by_reference(rt: Runtime, reference: str, phone: str, staff_id: str) -> bool:
    """A caller's withdrawal on the phone line: the reference they were given and the number
    (normalised) the question was left with must both match; the same erasure as `withdraw`,
    with the volunteer's staff.acted (withdrawn_by_phone) in the same transaction."""
    async with rt.sessions() as session, session.begin():
        for qid in await store.live_by_reference(session, reference):
            q = await store.get_question(session, qid, lock=True)
            personal = await store.read_personal(session, envelope(rt), qid)
            if q is None or q["erased_at"] is not None or personal is None:
                continue
            if secrets.compare_digest(personal.phone.encode(), phone.encode()):
                await erase_withdrawn(session, q)
                acted = StaffActed(
                    source="intake", action="withdrawn_by_phone", staff_id=staff_id, question_id=qid
                )
                await outbox.add(session, acted)
                break
        else:
            return False
    outbox.wake_relay()
    return True


async def erase_withdrawn(session: AsyncSession, q: dict) -> None:
    """Erase now, with consent.withdrawn and question.erased in the same transaction."""
    qid = q["question_id"]
    await store.erase(session, qid, "withdrawn", datetime.now(UTC))
    await outbox.add(
        session,
        ConsentWithdrawn(question_id=qid, consent_version=q["consent_version"]),
        QuestionErased(question_id=qid, reason="withdrawn"),
    )


router = APIRouter(prefix="/api/v1", tags=["questions"])


@router.post(
    "/questions",
    status_code=202,
    response_model=Accepted,
    responses={
        401: {"description": "The X-Frontend-Key header names no known frontend."},
        413: {"description": "The body is larger than allowed."},
        422: {"description": "Refused; nothing personal was stored."},
        429: {"description": "Too many questions from this address; see Retry-After."},
        503: {"description": "The database or broker is away for a moment; see Retry-After."},
    },
)
async def post_question(q: QuestionIn, response: Response, rt: Rt, topics: Topics) -> Accepted:
    response.headers.update(NO_STORE)  # the withdraw token is a credential
    return await accept_question(rt, topics, q)


@router.delete(
    "/questions/{question_id}",
    status_code=204,
    responses={404: {"description": "No live question with this id and token."}},
)
async def delete_question(
    question_id: UUID, x_withdraw_token: Annotated[str, Header(max_length=200)], rt: Rt
) -> Response:
    if not await withdraw(rt, question_id, x_withdraw_token):
        raise Refused(
            "not_found",
            "There is no question with this id and withdraw token (it may already be erased).",
            kind="not_found",
        )
    return Response(status_code=204, headers=NO_STORE)
