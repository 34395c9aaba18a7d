"""The OpenAPI documents a client generator reads: exported by `opendeur openapi` without a
database, broker or secrets, valid OpenAPI (openapi-spec-validator), with the staff security
schemes, the SSE stream as text/event-stream and typed health and directory answers; the
directory in HSDS 3.0's API shape, checked against ../shared/hsds-3.0; /livez for liveness."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from jsonschema import Draft202012Validator, FormatChecker
from openapi_spec_validator import validate as validate_openapi
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from opendeur.runtime import STAFF_TAGS, install_basics
from opendeur.settings import SERVICES, Settings
from services.routing import api, directory, store

ROOT = Path(__file__).resolve().parents[2]
HSDS = ROOT.parent / "shared" / "hsds-3.0"
OPENDEUR = [sys.executable, "-m", "opendeur.cli"]


def hostile_env(tmp_path: Path) -> dict[str, str]:
    """What a build machine might have: no broker or database, secrets that cannot be read, a
    data directory that must stay untouched. The export must not need or read any of it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENDEUR_")}
    env.update(
        OPENDEUR_SECRET_KEY_FILE=str(tmp_path / "no-such-secret"),
        OPENDEUR_ADMIN_TOKEN_FILE=str(tmp_path / "no-such-token"),
        OPENDEUR_DATA_DIR=str(tmp_path / "data"),
        OPENDEUR_DATABASE_URL="postgresql://nobody@127.0.0.1:1/none",
        PYTHONPATH=str(ROOT),
    )
    return env


@pytest.fixture(scope="module")
def documents(tmp_path_factory) -> dict[str, dict]:
    tmp = tmp_path_factory.mktemp("openapi")
    env = hostile_env(tmp)
    out = {}
    for service in SERVICES:
        target = tmp / f"{service}.json"
        result = subprocess.run(
            [*OPENDEUR, "openapi", service, "--output", str(target)],
            cwd=tmp, env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        out[service] = json.loads(target.read_text())
    assert not (tmp / "data").exists(), "the export wrote into OPENDEUR_DATA_DIR"
    return out


def operations(document: dict) -> Iterator[tuple[str, str, dict]]:
    for path, ops in document["paths"].items():
        for method, op in ops.items():
            if isinstance(op, dict) and "responses" in op:
                yield path, method, op


def test_every_document_is_valid_openapi(documents) -> None:
    assert set(documents) == set(SERVICES)
    for service, document in documents.items():
        validate_openapi(document)  # raises with the first error
        assert document["info"]["title"] == f"opendeur {service}"
        assert {"/healthz", "/livez", "/readyz", "/metrics"} <= set(document["paths"])


def test_the_validator_is_not_vacuous(documents) -> None:
    broken = json.loads(json.dumps(documents["audit"]))
    broken["paths"]["/api/v1/audit/stream"]["get"]["responses"]["200"].pop("description")
    with pytest.raises(Exception, match="description"):
        validate_openapi(broken)


def test_the_asyncapi_export_is_the_checked_in_document(tmp_path) -> None:
    result = subprocess.run(
        [*OPENDEUR, "asyncapi"], cwd=tmp_path, env=hostile_env(tmp_path),
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout == (ROOT / "contracts" / "asyncapi.json").read_text()


def test_staff_operations_declare_bearer_and_session_and_public_ones_nothing(documents) -> None:
    staff_seen = 0
    for service, document in documents.items():
        schemes = document["components"]["securitySchemes"]
        assert schemes["staffToken"] == {
            **schemes["staffToken"],
            "type": "http",
            "scheme": "bearer",
        }
        assert schemes["staffSession"]["type"] == "apiKey"
        assert schemes["staffSession"]["in"] == "cookie"
        for path, method, op in operations(document):
            where = f"{service} {method.upper()} {path}"
            if STAFF_TAGS & set(op.get("tags", [])):
                staff_seen += 1
                names = [next(iter(s)) for s in op["security"]]
                assert set(names) == {"staffToken", "staffSession"}, where
                first = "staffToken" if path.startswith("/api/") else "staffSession"
                assert names[0] == first, where
            else:
                assert "security" not in op, where
    assert staff_seen >= 10


# Staff operations, called as an outsider would (no token, no cookie, a made-up token): each
# must refuse. Run in a child process: importing an app builds its runtime from the environment.
PROBE = r"""
import asyncio, json, sys, uuid
import httpx
from importlib import import_module

service, ops = sys.argv[1], json.loads(sys.argv[2])
# Well-formed otherwise: only the credential is wrong.
PARAMS = {"month": "2026-11"}
BODIES = {
    "/api/v1/groups/{group_id}/status": {"status": "active"},
    "/api/v1/contacts/{contact_id}": {"email": "probe@example.org"},
}
app = import_module(f"services.{service}.app").app

async def main():
    out = []
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        for method, path in ops:
            url = path.replace("{", "").replace("}", "")
            for name in ("question_id", "contact_id", "group_id", "qid", "id"):
                url = url.replace(name, str(uuid.uuid4()))
            for headers in ({}, {"Authorization": "Bearer guessed"}, {"Cookie": "od_admin=guessed"}):
                r = await c.request(
                    method, url, headers=headers, params=PARAMS, json=BODIES.get(path), timeout=10
                )
                out.append([method, path, r.status_code])
        for path in ("/livez", "/readyz", "/healthz"):
            r = await c.get(path, timeout=30)
            out.append(["GET", path, r.status_code, r.json()])
    print(json.dumps(out))

asyncio.run(main())
"""


@pytest.mark.parametrize("service", SERVICES)
def test_what_is_documented_as_staff_only_refuses_outsiders(documents, service, tmp_path) -> None:
    ops = [
        [method.upper(), path]
        for path, method, op in operations(documents[service])
        if "security" in op and path != "/api/v1/audit/stream"  # never ends; tested elsewhere
    ]
    env = hostile_env(tmp_path)
    env.update(
        OPENDEUR_NATS_URL="nats://127.0.0.1:1",
        OPENDEUR_SECRET_KEY="test-secret-key-for-the-probe-000000",
        OPENDEUR_ADMIN_TOKEN="the-real-token-nobody-here-knows",
    )
    result = subprocess.run(
        [sys.executable, "-c", PROBE, service, json.dumps(ops)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    answers = json.loads(result.stdout.strip().splitlines()[-1])
    assert len(answers) == 3 * len(ops) + 3
    for method, path, status, *body in answers:
        if path == "/livez":
            # Liveness is the process: 200 while the database and broker are unreachable.
            assert (status, body[0]) == (200, {"service": service, "working": True})
        elif path == "/readyz":  # the database is unreachable here
            assert status == 503
            assert body[0] == {"service": service, "database": False, "working": True}
        elif path == "/healthz":
            assert status == 503
            assert body[0] == {
                "service": service,
                "database": False,
                "broker": False,
                "working": True,
            }
        elif method == "GET" and not path.startswith("/api/"):
            assert status == 303, (method, path, status)  # a staff page: to the login page
        else:
            assert status in (401, 403), (method, path, status)


def test_the_audit_stream_is_documented_as_server_sent_events(documents) -> None:
    ok = documents["audit"]["paths"]["/api/v1/audit/stream"]["get"]["responses"]["200"]
    assert set(ok["content"]) == {"text/event-stream"}
    assert "id:" in ok["description"] and "event:" in ok["description"]


def ref(response: dict) -> str:
    return response["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]


def test_health_and_directory_answers_are_typed(documents) -> None:
    for document in documents.values():
        health = document["paths"]["/healthz"]["get"]["responses"]
        assert ref(health["200"]) == ref(health["503"]) == "Health"
        schema = document["components"]["schemas"]["Health"]
        assert set(schema["required"]) == {"service", "database", "broker", "working"}
        livez = document["paths"]["/livez"]["get"]["responses"]
        assert ref(livez["200"]) == ref(livez["503"]) == "Liveness"
    routing = documents["routing"]
    typed = {
        "/api/v1/directory": "Directory",
        "/api/v1/services": "ServicePage",
        "/api/v1/services/{id}": "Service",
        "/api/v1/organizations": "OrganizationPage",
        "/api/v1/organizations/{id}": "OrganizationWithServices",
    }
    for path, model in typed.items():
        assert ref(routing["paths"][path]["get"]["responses"]["200"]) == model, path
    page = routing["components"]["schemas"]["ServicePage"]
    assert set(page["required"]) == {
        "total_items", "total_pages", "page_number", "size", "first_page", "last_page", "empty",
        "contents",
    }  # fmt: skip


# The directory in HSDS 3.0's API shape, served from rows as routing's store returns them.

GROUPS = [
    {
        "group_id": f"g-{n}",
        "name": name,
        "status": status,
        "topics": topics,
        "municipalities": municipalities,
        "online": online,
        "languages": ["nl"],
        "description": None,
        "meeting": None,
    }
    for n, (name, status, topics, municipalities, online) in enumerate(
        [
            ("Angst Helmond", "active", ["angst"], ["Helmond"], False),
            ("Online Angst", "active", ["angst", "depressie"], [], True),
            ("Rouwgroep Eindhoven", "paused", ["rouw"], ["Eindhoven", "Veldhoven"], False),
        ]
    )
]
SETTINGS = Settings(
    secret_key="test-secret-key-for-the-directory-0000",
    public_base_url="https://vraag.zelfhulpnetwerk.example",
    database_url="postgresql://nobody@127.0.0.1:1/none",
)


class FakeRuntime:
    settings = SETTINGS

    @staticmethod
    @asynccontextmanager
    async def sessions():
        yield None


@pytest.fixture
async def client(monkeypatch) -> Any:
    async def public_groups(_session: object) -> list[dict]:
        return [dict(g) for g in GROUPS]

    monkeypatch.setattr(store, "public_groups", public_groups)
    app = FastAPI()
    install_basics(app, FakeRuntime())  # type: ignore[arg-type]
    app.include_router(api.make_router(FakeRuntime()))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://routing"
    ) as c:
        yield c


@pytest.fixture(scope="module")
def hsds() -> dict[str, Draft202012Validator]:
    if not (HSDS / "service.json").exists():
        reason = f"HSDS 3.0 schemas not found at {HSDS}"
        print(reason)
        pytest.skip(reason)
    registry = Registry()
    for path in [*HSDS.glob("*.json"), *HSDS.glob("compiled/*.json")]:
        schema = json.loads(path.read_text())
        resource = Resource.from_contents(schema, default_specification=DRAFT202012)
        registry = registry.with_resource(path.relative_to(HSDS).as_posix(), resource)
    openapi = json.loads((HSDS / "openapi.json").read_text())
    formats = FormatChecker()
    formats.checks("uri")(lambda v: not isinstance(v, str) or "://" in v)

    def validator(schema: dict) -> Draft202012Validator:
        return Draft202012Validator(schema, registry=registry, format_checker=formats)

    return {
        "Page": validator(openapi["components"]["schemas"]["Page"]),
        "service_list": validator({"$ref": "compiled/service_list.json"}),
        "service": validator({"$ref": "service.json"}),
        "organization_list": validator({"$ref": "compiled/organization_list.json"}),
        "organization": validator({"$ref": "organization.json"}),
    }


def assert_valid(validator: Draft202012Validator, value: object) -> None:
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(value)]
    assert errors == [], errors


async def test_services_are_paged_as_hsds_says(client, hsds) -> None:
    first = (await client.get("/api/v1/services", params={"per_page": 2})).json()
    assert_valid(hsds["Page"], first)
    assert {k: v for k, v in first.items() if k != "contents"} == {
        "total_items": 3, "total_pages": 2, "page_number": 1, "size": 2,
        "first_page": True, "last_page": False, "empty": False,
    }  # fmt: skip
    second = (await client.get("/api/v1/services", params={"per_page": 2, "page": 2})).json()
    assert (second["size"], second["first_page"], second["last_page"]) == (1, False, True)
    beyond = (await client.get("/api/v1/services", params={"per_page": 2, "page": 3})).json()
    assert (beyond["contents"], beyond["empty"], beyond["size"]) == ([], True, 0)
    listed = first["contents"] + second["contents"]
    assert [s["name"] for s in listed] == [g["name"] for g in GROUPS]
    for s in listed:
        assert_valid(hsds["service_list"], s)
        assert "phones" not in s and "languages" not in s  # the list shape: one-to-one fields
    assert listed[2]["status"] == "temporarily closed"


async def test_full_services_and_one_service_are_fully_nested_hsds_services(client, hsds) -> None:
    full = (await client.get("/api/v1/services", params={"full": "true"})).json()
    expected = directory.hsds(GROUPS, SETTINGS)["services"]
    assert full["contents"] == expected
    for s in expected:
        one = await client.get(f"/api/v1/services/{s['id']}")
        assert one.status_code == 200
        assert one.json() == s
        assert_valid(hsds["service"], one.json())


async def test_organizations_as_hsds_says(client, hsds) -> None:
    page = (await client.get("/api/v1/organizations")).json()
    assert_valid(hsds["Page"], page)
    assert (page["total_items"], page["size"], page["last_page"]) == (1, 1, True)
    (org,) = page["contents"]
    assert_valid(hsds["organization_list"], org)
    one = await client.get(f"/api/v1/organizations/{org['id']}")
    assert one.status_code == 200
    assert_valid(hsds["organization"], one.json())
    assert [s["name"] for s in one.json()["services"]] == [g["name"] for g in GROUPS]
    full = (await client.get("/api/v1/organizations", params={"full": "true"})).json()
    assert full["contents"] == [one.json()]


async def test_the_directory_path_keeps_its_shape(client) -> None:
    answer = await client.get("/api/v1/directory")
    assert answer.status_code == 200
    assert answer.json() == directory.hsds(GROUPS, SETTINGS)


@pytest.mark.parametrize(
    "path,params,status,code",
    [
        ("/api/v1/services/5e0c7c9b-5a6c-4c1e-9d5e-000000000000", {}, 404, "not_found"),
        ("/api/v1/organizations/5e0c7c9b-5a6c-4c1e-9d5e-000000000000", {}, 404, "not_found"),
        ("/api/v1/services/not-a-uuid", {}, 422, None),
        ("/api/v1/services", {"page": "0"}, 422, None),
        ("/api/v1/services", {"per_page": "100000"}, 422, None),
        ("/api/v1/services", {"page": "x"}, 422, None),
    ],
)
async def test_bad_requests_get_a_readable_refusal(client, path, params, status, code) -> None:
    answer = await client.get(path, params=params)
    assert answer.status_code == status
    body = answer.json()
    assert body["error"] and body["message"]
    if code:
        assert body["error"] == code
