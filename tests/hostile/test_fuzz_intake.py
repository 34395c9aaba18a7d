"""Hypothesis against the running intake. POST /api/v1/questions: any JSON shape, near-valid
bodies with one field replaced, raw bytes — always 202 or a 4xx with {error, message}, never a
500, and the refusal never echoes what was sent. The web form and the phone console: any mix of
fields as typed or pasted (long runs of any whitespace, NUL, canaries) — never a 500."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from tests.support import System, question

FUZZ = settings(
    max_examples=60,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
CANARY = "kanarie-7f3a"

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=60)
    | st.sampled_from(
        [
            "",
            " ",
            "web",
            "phone",
            "nl",
            "en",
            "rouw",
            "5611",
            "06 12345678",
            "+31612345678",
            "\u202e",
            "\x00",
            "<script>alert(1)</script>",
            "x" * 20001,
            CANARY,
        ]
    )
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=20), children, max_size=5)
    ),
    max_leaves=20,
)
FIELDS = [*question().keys(), "call_times", "referrer_kind", "consent.share_with_contact"]


@pytest.fixture(scope="module")
def post(hostile: System):
    client = httpx.Client(base_url=hostile.url("intake"), timeout=20)

    def send(content: bytes, content_type: str = "application/json") -> httpx.Response:
        r = client.post(
            "/api/v1/questions", content=content, headers={"Content-Type": content_type}
        )
        check(r)
        return r

    yield send
    client.close()


def check(r: httpx.Response) -> None:
    assert r.status_code < 500, f"{r.status_code}: {r.text[:500]}"
    if r.status_code == 202:
        assert {"question_id", "reference", "respond_before", "withdraw_token"} <= r.json().keys()
        return
    assert r.status_code in (400, 413, 415, 422), r.status_code
    body = r.json()
    assert isinstance(body, dict) and isinstance(body.get("error"), str), body
    assert isinstance(body.get("message"), str) and body["message"], body
    assert CANARY not in r.text  # a refusal never echoes the input


def encode(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")


@FUZZ
@given(body=json_values)
def test_any_json_shape(post, body: Any) -> None:
    post(encode(body))


@FUZZ
@given(field=st.sampled_from(FIELDS), value=json_values, drop=st.booleans())
def test_a_valid_question_with_one_field_replaced(post, field: str, value: Any, drop: bool) -> None:
    body: dict[str, Any] = question(story=CANARY)
    target, key = (body["consent"], field.split(".")[1]) if "." in field else (body, field)
    if drop:
        target.pop(key, None)
    else:
        target[key] = value
    post(encode(body))


@FUZZ
@given(data=st.binary(max_size=300))
def test_raw_bytes(post, data: bytes) -> None:
    post(data)


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"", "application/json"),
        (b"{", "application/json"),
        (b"[" * 50_000, "application/json"),
        (b'{"a":' * 20_000, "application/json"),
        (b"\xff\xfe\x00\x00", "application/json"),
        (b'{"story": "\\ud800"}', "application/json"),
        (encode(question(story="x" * 20_000)), "application/json"),
        (encode(question(story="x" * 1_000_000)), "application/json"),
        (encode(question()), "text/plain"),
        (b"channel=web&for_self=true", "application/x-www-form-urlencoded"),
        (encode(question()) * 2, "application/json"),
        (encode(question(postcode="5611" * 1000)), "application/json"),
        (encode({**question(), "consent": {"share_with_contact": 1}}), "application/json"),
        (encode({**question(), "for_self": "true"}), "application/json"),
    ],
)
def test_pathological_bodies(post, content: bytes, content_type: str) -> None:
    post(content, content_type)


# --- the web form and the phone console: what a person (or a script) types into the pages ------

FORM_FIELDS = [
    "for_self",
    "topic",
    "story",
    "phone",
    "postcode",
    "call_times",
    "share_with_contact",
    "statistics",
    "wants_to_start_group",
    "language",
    "consent_read",
    "website",
]
typed = (
    st.text(max_size=40)
    | st.sampled_from(["yes", "no", "", "rouw", "5611 AB", "06 12345678", "+31 (0)6-1234 5678"])
    | st.builds(
        lambda head, pad, tail: head + pad + tail,
        st.sampled_from(["06", "5611", "0031 6", "+31", CANARY, ""]),
        st.text(alphabet=" \t\n\r\u00a0\u2007\u3000", min_size=1, max_size=3000),
        st.sampled_from(["12345678", "AB", "ab ", "", "\x00", CANARY]),
    )
)
form_bodies = st.lists(st.tuples(st.sampled_from(FORM_FIELDS), typed), max_size=14)
VALID_FORM = {
    "for_self": "yes",
    "topic": "rouw",
    "phone": "06 12345678",
    "postcode": "5611",
    "share_with_contact": "yes",
    "consent_read": "yes",
}


def check_page(r: httpx.Response) -> None:
    assert r.status_code < 500, f"{r.status_code}: {r.text[:500]}"
    assert r.status_code in (200, 303, 400, 403, 413, 422, 429), r.status_code
    assert "Traceback" not in r.text and "input_value" not in r.text


@pytest.fixture(scope="module")
def web(hostile: System):
    with httpx.Client(base_url=hostile.url("intake"), timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
async def console(hostile: System):
    """A volunteer signed in to the phone console of the hostile system."""
    from opendeur.db import make_engine, sessionmaker
    from tests.support import new_volunteer

    engine = make_engine(hostile.pg.url(hostile.database), pool_size=1, schema="intake")
    try:
        async with httpx.AsyncClient(base_url=hostile.url("intake"), timeout=30) as c:
            await new_volunteer(c, sessionmaker(engine))
            cookies = dict(c.cookies)
    finally:
        await engine.dispose()
    with httpx.Client(base_url=hostile.url("intake"), timeout=30) as client:
        for name, value in cookies.items():
            client.cookies.set(name, value, domain="127.0.0.1", path="/phone")
        page = client.get("/phone")
        assert page.status_code == 200
        token = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text).group(1)
        yield client, token


@FUZZ
@given(fields=form_bodies, base=st.booleans())
@example(fields=[("postcode", "5611" + " " * 40 + "AB")], base=True)
@example(fields=[("phone", "06" + " " * 300 + "12345678")], base=True)
def test_the_web_form_never_fails_on_what_is_typed(web, fields, base: bool) -> None:
    body = list(VALID_FORM.items()) if base else []
    check_page(web.post("/", data=dict(body + fields)))


@FUZZ
@given(fields=form_bodies, base=st.booleans())
@example(fields=[("postcode", "5611" + " " * 40 + "AB")], base=True)
@example(fields=[("phone", "06" + " " * 300 + "12345678")], base=True)
def test_the_phone_console_never_fails_on_what_is_typed(console, fields, base: bool) -> None:
    client, token = console
    body = list(VALID_FORM.items()) if base else []
    r = client.post("/phone", data=dict([*body, *fields, ("csrf", token)]))
    check_page(r)
    # A question entered redirects to the page read aloud (Post/Redirect/Get); never to login.
    assert not r.headers.get("location", "").startswith("/staff/login"), "session ended"


@pytest.mark.parametrize("field", ["phone", "postcode", "story", "call_times", "topic"])
def test_a_long_run_of_spaces_in_any_field_keeps_the_form(web, field: str) -> None:
    r = web.post("/", data={**VALID_FORM, "story": CANARY, field: "5611" + " " * 5000 + "AB"})
    check_page(r)
    if r.status_code == 422 and field != "story":
        assert CANARY in r.text  # what the person typed is still in the form
