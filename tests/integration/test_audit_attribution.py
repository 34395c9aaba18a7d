"""Attribution on the operators' console: what a staff member did (assign, close, a team member's
view of a crisis question's data and their callback) is in the trail as "door medewerker <id>",
and the filter "acties van medewerkers" shows only that."""

from __future__ import annotations

import re

import httpx
import nats

from contracts.events import CallbackDone, PiiAccessed, StaffActed
from tests.support import ADMIN, System, question, staff_client

SLOW = 90
STAFF = "st-00aa11bb22cc33dd"
LINES = re.compile(r'<li class="line[^"]*" data-seq="\d+">(.*?)</li>', re.S)


async def test_staff_actions_are_attributed_and_filtered_on_the_console(system: System) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        r = await client.post(
            system.url("intake") + "/api/v1/questions", json=question(topic="rouw")
        )
        assert r.status_code == 202, r.text
        accepted = r.json()
    qid = accepted["question_id"]
    await system.wait_audit(qid, ["question.received.v1"], timeout=SLOW)

    # As routing and intake publish them (the services' own tests prove they do).
    events = [
        StaffActed(question_id=qid, staff_id=STAFF, action="assign", group_id="rouwgroep"),
        PiiAccessed(question_id=qid, purpose="team_callback", staff_id=STAFF),
        CallbackDone(question_id=qid, outcome="reached", by="team", staff_id=STAFF),
        StaffActed(question_id=qid, staff_id=STAFF, action="close", source="routing"),
    ]
    nc = await nats.connect(system.nats.url)
    try:
        js = nc.jetstream()
        for event in events:
            await js.publish(
                event.subject, event.to_bytes(), headers={"Nats-Msg-Id": str(event.event_id)}
            )
    finally:
        await nc.close()
    await system.wait_audit(
        qid, ["staff.acted.v1", "pii.accessed.v1", "callback.done.v1"], timeout=SLOW
    )

    operator = await staff_client(system, "beheerder")
    try:
        everything = (await operator.get(system.url("audit") + "/")).text
        only_staff = await operator.get(system.url("audit") + "/", params={"show": "staff"})
        assert only_staff.status_code == 200
    finally:
        await operator.aclose()

    ours = [li for li in LINES.findall(everything) if accepted["reference"] in li]
    by_staff = [li for li in ours if f"door medewerker {STAFF}" in li]
    assert len(by_staff) == 4, ours
    words = " ".join(by_staff)
    assert "vraag aan een groep gegeven" in words and "vraag gesloten" in words
    assert "Persoonsgegevens bekeken: teruggebeld door het team" in words
    assert "Terugbellen vastgelegd: bereikt" in words
    # The question's arrival is in the whole trail, by no staff member.
    assert any("Vraag binnengekomen" in li and "door medewerker" not in li for li in ours)

    filtered = LINES.findall(only_staff.text)
    # Staff accounts made with `opendeur users add` on the server say so.
    # Machine clients (e.g. an address written with a scoped token) by their token's name.
    attributed = ("door medewerker st-", "met een opdracht op de server", "door koppeling ")
    assert filtered and all(any(a in li for a in attributed) for li in filtered), filtered
    assert sum(accepted["reference"] in li for li in filtered) == 4
    assert 'value="staff" checked' in only_staff.text

    # The consent register says who opened the data, by pseudonymous id.
    async with httpx.AsyncClient(timeout=30) as reader:
        r = await reader.get(
            system.url("audit") + f"/api/v1/audit/consent/{qid}",
            headers={"Authorization": f"Bearer {ADMIN}"},
        )
    assert r.status_code == 200, r.text
    assert [(a["staff_id"], a["purpose"]) for a in r.json()["accessed"]] == [
        (STAFF, "team_callback")
    ]
