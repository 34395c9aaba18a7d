"""One system of its own for the hostile-input tests: fuzzing sends many questions and forged
events, which must not fill the shared system's groups or dead-letter stream for other tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from opendeur.embedded import Postgres
from tests.support import GROUPS_CSV, System, start_system, stop_system

GENEROUS = GROUPS_CSV.replace("anna.rouw@example.org,3", "anna.rouw@example.org,1000")

XSS = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(2)>'
RTL = "\u202egnp.exe"
# A staff-entered group with a hostile name and contact name: CSV input is user input too.
HOSTILE_GROUP = (
    f'"Eenzaam {XSS} {IMG} {RTL}",eenzaamheid,Eindhoven,no,"{XSS} \'Eve\'",eve.xss@example.org,1000'
)
GROUPS = GENEROUS.rstrip("\n") + "\n" + HOSTILE_GROUP.replace('"><img', '""><img') + "\n"


@pytest.fixture(scope="package")
def hostile(tmp_path_factory: pytest.TempPathFactory, pg: Postgres) -> Iterator[System]:
    s = start_system(
        tmp_path_factory.mktemp("hostile"),
        pg,
        groups_csv=GROUPS,
        OPENDEUR_INTAKE_LOGIN_RATE="off",
        OPENDEUR_NOTIFY_DIGEST_HOUR="off",
    )
    yield s
    stop_system(s)
