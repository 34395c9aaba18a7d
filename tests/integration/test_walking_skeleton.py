"""One question travels intake → routing → notify → callback → audit, on the real parts."""

from __future__ import annotations

import asyncio
import random
import uuid

import httpx
import nats

from tests.support import LINK, System, question


async def all_stream_payloads(url: str) -> bytes:
    nc = await nats.connect(url)
    js = nc.jetstream()
    out = b""
    for stream in await js.streams_info():
        for seq in range(max(stream.state.first_seq, 1), stream.state.last_seq + 1):
            try:
                msg = await js.get_msg(stream.config.name, seq)
            except nats.js.errors.NotFoundError:  # deleted or purged
                continue
            out += (msg.data or b"") + str(msg.headers or "").encode()
    await nc.close()
    return out


async def test_one_question_end_to_end_leaves_no_personal_data_behind(system: System) -> None:
    canary = f"kanarie-{uuid.uuid4().hex}"
    phone_digits = f"6{random.randint(1, 5)}{random.randint(1_000_000, 9_999_999)}"
    story = f"Mijn vader is overleden en ik mis hem. {canary}"
    async with httpx.AsyncClient() as client:
        r = await client.post(
            system.url("intake") + "/api/v1/questions",
            # Online Angst (room for 100): on the suite's shared system other tests may have
            # filled the Eindhoven group's 3 places.
            json=question(phone="0" + phone_digits, story=story, topic="angst"),
        )
        assert r.status_code == 202, r.text
        accepted = r.json()
        assert accepted["advice"]["professional_help"] is False
        qid, ref = accepted["question_id"], accepted["reference"]

        mail = await system.wait_mail(lambda m: ref in m.subject)
        assert mail.to == ["bram.angst@example.org"]
        link = LINK.search(mail.text).group(1)
        assert canary not in mail.text and phone_digits not in mail.text.replace(" ", "")

        page = await client.get(link)
        assert page.status_code == 200
        assert canary in page.text
        assert phone_digits in page.text.replace(" ", "")
        assert page.headers["referrer-policy"] == "no-referrer"

        done = await client.post(link, data={"outcome": "reached"})
        assert done.status_code == 200

    events = await system.wait_audit(
        qid,
        ["question.received.v1", "question.routed.v1", "contact.notified.v1", "callback.done.v1"],
    )
    order = [e["type"] for e in events if e["type"] != "pii.accessed.v1"]
    assert order == [
        "question.received.v1",
        "question.routed.v1",
        "contact.notified.v1",
        "callback.done.v1",
    ]
    routed = next(e for e in events if e["type"] == "question.routed.v1")
    assert routed["reason"].startswith("topic+")

    # The canary and the phone number are nowhere in plain text but on that page.
    await asyncio.sleep(0.5)
    dump = system.pg.dump(system.database)
    assert canary not in dump and phone_digits not in dump
    streams = await all_stream_payloads(system.nats.url)
    assert canary.encode() not in streams and phone_digits.encode() not in streams
    logs = system.logs()
    assert canary not in logs and phone_digits not in logs
    assert all(
        canary not in m.text and phone_digits not in m.raw.decode(errors="replace")
        for m in system.smtp.mails
    )
