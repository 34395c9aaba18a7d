"""Hypothesis against POST /api/v1/questions on the running intake: any JSON shape, near-valid
bodies with one field replaced, raw bytes — always 202 or a 4xx with {error, message}, never a
500, and the refusal never echoes what was sent."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
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
