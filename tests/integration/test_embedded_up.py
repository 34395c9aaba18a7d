"""`opendeur up --demo` with nothing given: the real embedded parts, as `make run` starts them."""

from __future__ import annotations

import email
import email.policy
import os
import time
from pathlib import Path

import httpx
import psutil

from opendeur.embedded import free_port
from tests.support import LINK, question, start_up, stop_up


def serving(parent: int, service: str) -> list[psutil.Process]:
    """Live children of `opendeur up` that serve this service (a killed one may be a zombie)."""
    found = []
    for p in psutil.Process(parent).children():
        try:
            if ["serve", service] == p.cmdline()[-2:] and p.status() != psutil.STATUS_ZOMBIE:
                found.append(p)
        except psutil.Error:
            continue
    return found


def mail_text(mail_dir: Path, ref: str) -> str:
    """The plain text of the mail about `ref` in the local mailbox, within 30 s."""
    deadline = time.monotonic() + 30
    while True:
        for f in mail_dir.glob("*.eml"):
            msg = email.message_from_bytes(f.read_bytes(), policy=email.policy.default)
            if ref in str(msg["Subject"]):
                return msg.get_body(preferencelist=("plain",)).get_content()
        assert time.monotonic() < deadline, "no mail in the local mailbox"
        time.sleep(0.1)


def wait_restarted(up_pid: int, service: str, old_pid: int, port: int) -> None:
    """A new `service` process under `up`, answering /healthz, within 60 s."""
    deadline = time.monotonic() + 60
    while True:
        alive = serving(up_pid, service)
        if alive and alive[0].pid != old_pid:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
        assert time.monotonic() < deadline, f"{service} was not restarted"
        time.sleep(0.2)


def test_make_run_brings_everything_up_and_a_question_through(pg_reachable_dir: Path) -> None:
    tmp_path = pg_reachable_dir
    ports = {s: free_port() for s in ("intake", "routing", "notify", "audit", "mailbox")}
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENDEUR_")}
    env.update({f"OPENDEUR_{s.upper()}_PORT": str(p) for s, p in ports.items()})
    proc, out = start_up(["--demo", "--data-dir", str(tmp_path)], env)
    try:
        assert "admin token" in out and f"http://127.0.0.1:{ports['intake']}/" in out
        names = {p.name() for p in psutil.Process(proc.pid).children(recursive=True)}
        assert {"nats-server", "postgres"} <= names, names

        base = f"http://127.0.0.1:{ports['intake']}"
        for _ in range(100):
            if httpx.get(base + "/healthz").status_code == 200:
                break
            time.sleep(0.2)
        r = httpx.post(base + "/api/v1/questions", json=question(topic="rouw", postcode="5612 AB"))
        assert r.status_code == 202, r.text
        ref = r.json()["reference"]

        mail_dir = tmp_path / "mail"
        text = mail_text(mail_dir, ref)
        assert ref in httpx.get(f"http://127.0.0.1:{ports['mailbox']}/").text
        page = httpx.get(LINK.search(text).group(1))
        assert page.status_code == 200 and "tel:+31612345678" in page.text

        # The supervisor restarts a service that dies (kill -9), and questions flow on.
        routing = serving(proc.pid, "routing")[0]
        routing.kill()
        wait_restarted(proc.pid, "routing", routing.pid, ports["routing"])
        r = httpx.post(base + "/api/v1/questions", json=question(topic="rouw", postcode="5611"))
        ref2 = r.json()["reference"]
        deadline = time.monotonic() + 30
        while not any(ref2 in f.read_text(errors="replace") for f in mail_dir.glob("*.eml")):
            assert time.monotonic() < deadline, "no mail after the restart"
            time.sleep(0.1)
    finally:
        stopped = stop_up(proc)  # SIGTERM as a process manager sends; the group killed after
        rest = proc.stdout.read()
    assert stopped, rest
    assert proc.returncode == 0
    assert "opendeur stopped." in rest
    assert not [
        p
        for p in psutil.process_iter(["cmdline"])
        if str(tmp_path) in " ".join(p.info["cmdline"] or [])
    ]
