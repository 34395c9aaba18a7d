"""deploy/check.sh's walk through the running containers: a question, its mail, the contact's
overview, the callback link, an outcome, the audit trail. Prints each step; exits 1 on failure."""

import email
import email.policy
import os
import re
import sys
import time
from pathlib import Path

import httpx

INTAKE, ROUTING, AUDIT = "http://intake:8080", "http://routing:8081", "http://audit:8083"
MAIL = Path("/mail")
ADMIN = {"Authorization": "Bearer " + os.environ["ADMIN_TOKEN"]}
T0 = time.monotonic()


def step(text: str) -> None:
    print(f"[{time.monotonic() - T0:6.1f}s] {text}", flush=True)


def wait(what: str, probe, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while True:
        try:
            if found := probe():
                return found
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            sys.exit(f"FAILED: {what} within {timeout:.0f}s")
        time.sleep(1)


def mail_about(reference: str):
    for path in sorted(MAIL.glob("*.eml")):
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if reference in str(msg["Subject"]):
            return msg
    return None


with httpx.Client(timeout=30) as client:
    for name, base in (("intake", INTAKE), ("routing", ROUTING), ("audit", AUDIT)):
        wait(f"{name} ready", lambda b=base: client.get(b + "/healthz").status_code == 200)
    step("intake, routing and audit answer /healthz (database and broker reachable)")
    body = {
        "channel": "web",
        "for_self": True,
        "topic": "rouw",
        "story": None,
        "phone": "06 12345678",
        "postcode": "5611",
        "language": "nl",
        "consent": {"share_with_contact": True, "statistics": True},
        "wants_to_start_group": False,
    }
    r = client.post(INTAKE + "/api/v1/questions", json=body)
    if r.status_code != 202:
        sys.exit(f"FAILED: POST /api/v1/questions -> {r.status_code} {r.text[:300]}")
    ref = r.json()["reference"]
    step(f"intake accepted question {ref} (202)")
    msg = wait(f"the contact's mail about {ref}", lambda: mail_about(ref))
    step(f"notify mailed {msg['To']}: {msg['Subject']!r}")
    text = msg.get_body(preferencelist=("plain",)).get_content()
    found = re.search(r"https?://\S+/contact/[A-Za-z0-9_.\-]+", text)
    if not found:
        sys.exit("FAILED: no overview link in the mail:\n" + text)
    # routing's own links carry its bind address (OPENDEUR_HOST): reach it by its service name.
    overview = re.sub(r"^https?://[^/]+", ROUTING, found.group(0))
    page = client.get(overview)
    step(f"overview link {found.group(0).split('/contact/')[0]}/contact/… -> {page.status_code}")
    link = re.search(r'<a href="([^"]+/c/[^"]+)" class="ref">' + re.escape(ref), page.text)
    if page.status_code != 200 or not link:
        sys.exit(f"FAILED: the overview does not list {ref}")
    callback = link.group(1)
    page = client.get(callback)
    step(f"callback link {callback.split('/c/')[0]}/c/… -> {page.status_code}")
    if page.status_code != 200 or ref not in page.text:
        sys.exit("FAILED: the callback page does not show the question")
    r = client.post(callback, data={"outcome": "reached"})
    step(f"outcome 'reached' recorded -> {r.status_code}")
    if r.status_code >= 400:
        sys.exit("FAILED: recording the outcome")

    def trail():
        events = client.get(AUDIT + "/api/v1/audit/events", headers=ADMIN).json()
        events = events.get("events", events) if isinstance(events, dict) else events
        types = [e.get("type") for e in events]
        return types if "callback.done.v1" in types else None

    types = wait("callback.done.v1 in the audit trail", trail)
    step("audit trail: " + ", ".join(dict.fromkeys(types)))
    v = client.get(AUDIT + "/api/v1/audit/verify", headers=ADMIN)
    step(f"audit hash chain verify -> {v.status_code} {v.text[:200]}")
    if v.status_code != 200:
        sys.exit("FAILED: audit verify")
print("JOURNEY OK", flush=True)
