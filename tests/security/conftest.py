"""Fixtures of the attack tests: a whole `opendeur up` with its own embedded, secured broker."""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from opendeur.embedded import Postgres
from tests.support import ADMIN, GROUPS_CSV, SECRET, MailSink, System

SMS_URL = "http://127.0.0.1:9/send?api_key=gateway-key-in-the-url"
SMS_AUTH_HEADER = "Authorization: Bearer sms-gateway-secret"


@dataclass
class UpSystem(System):
    """`opendeur up` starting its own nats-server with the per-service accounts (no
    OPENDEUR_NATS_URL given), as an operator runs it; database and SMTP sink are the test's."""

    nats_url: str = ""

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPENDEUR_")}
        env.update(
            {
                "OPENDEUR_DATABASE_URL": self.pg.url(self.database),
                "OPENDEUR_SMTP_URL": self.smtp.url,
                "OPENDEUR_SECRET_KEY": SECRET,
                "OPENDEUR_ADMIN_TOKEN": ADMIN,
                "OPENDEUR_DATA_DIR": str(self.data_dir),
                "OPENDEUR_LOG_FORMAT": "json",
                "OPENDEUR_INTAKE_RATE": "off",
                "OPENDEUR_PUBLIC_BASE_URL": f"http://127.0.0.1:{self.ports['intake']}",
                # An SMS gateway (nothing listens): its settings must reach intake and notify only.
                "OPENDEUR_SMS_URL": SMS_URL,
                "OPENDEUR_SMS_AUTH_HEADER": SMS_AUTH_HEADER,
                **{f"OPENDEUR_{s.upper()}_PORT": str(p) for s, p in self.ports.items()},
                **self.extra_env,
            }
        )
        return env

    def children(self) -> dict[str, psutil.Process]:
        """The service processes `up` started (`python -m opendeur serve SERVICE`)."""
        found = {}
        for child in psutil.Process(self.proc.pid).children(recursive=True):
            cmd = child.cmdline()
            if "serve" in cmd:
                found[cmd[cmd.index("serve") + 1]] = child
        return found


def environ(pid: int) -> dict[str, str]:
    """What an attacker reads from /proc/PID/environ."""
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.split("=", 1) for item in raw.decode().split("\0") if "=" in item)


@pytest.fixture(scope="session")
def up_system(tmp_path_factory: pytest.TempPathFactory, pg: Postgres) -> Iterator[UpSystem]:
    tmp = tmp_path_factory.mktemp("up-secured")
    s = UpSystem(
        data_dir=tmp,
        nats=None,  # type: ignore[arg-type]  (up starts its own)
        pg=pg,
        database=f"od_{uuid.uuid4().hex[:8]}",
        smtp=MailSink().start(),
    )
    try:
        s.start()
        deadline = time.monotonic() + 30
        while not (found := re.search(r"nats\s+(nats://\S+)", (tmp / "up.log").read_text())):
            assert time.monotonic() < deadline, s.logs()
            time.sleep(0.2)
        s.nats_url = found.group(1)
        s.extra_env = {"OPENDEUR_NATS_URL": s.nats_url, "OPENDEUR_NATS_AUTH": "derived"}
        csv = tmp / "groups.csv"
        csv.write_text(GROUPS_CSV)
        result = s.opendeur("groups", "import", str(csv))
        assert result.returncode == 0, result.stderr
        yield s
    finally:
        s.stop()
        s.smtp.stop()
