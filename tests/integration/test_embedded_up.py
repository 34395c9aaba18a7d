"""`opendeur up --demo` with nothing given: the real embedded parts, as `make run` starts them."""

from __future__ import annotations

import email
import email.policy
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil

from opendeur.embedded import free_port
from tests.support import LINK, ROOT, question


def test_make_run_brings_everything_up_and_a_question_through(tmp_path: Path) -> None:
    ports = {s: free_port() for s in ("intake", "routing", "notify", "audit", "mailbox")}
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENDEUR_")}
    env.update({f"OPENDEUR_{s.upper()}_PORT": str(p) for s, p in ports.items()})
    proc = subprocess.Popen(
        [sys.executable, "-m", "opendeur", "up", "--demo", "--data-dir", str(tmp_path)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    out = ""
    try:
        deadline = time.monotonic() + 120
        while "Ctrl-C stops everything" not in out:
            line = proc.stdout.readline()
            assert line or proc.poll() is None, out
            out += line
            assert time.monotonic() < deadline, out
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
        deadline = time.monotonic() + 30
        text = None
        while text is None:
            for f in mail_dir.glob("*.eml"):
                msg = email.message_from_bytes(f.read_bytes(), policy=email.policy.default)
                if ref in str(msg["Subject"]):
                    text = msg.get_body(preferencelist=("plain",)).get_content()
            assert time.monotonic() < deadline, "no mail in the local mailbox"
            time.sleep(0.1)
        assert ref in httpx.get(f"http://127.0.0.1:{ports['mailbox']}/").text
        page = httpx.get(LINK.search(text).group(1))
        assert page.status_code == 200 and "tel:+31612345678" in page.text
    finally:
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0
    assert "opendeur stopped." in rest
    assert not [
        p
        for p in psutil.process_iter(["cmdline"])
        if str(tmp_path) in " ".join(p.info["cmdline"] or [])
    ]
