"""Webhook signatures: what the transport signs, and what receivers accept and refuse."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xinyidai.job.model import OutboundMessage
from xinyidai.job.webhook import (
    WebhookVerificationError,
    compute_signature,
    signed_headers,
    verify_webhook,
    webhook_body,
)

SECRET = "subscriber-secret"
NOW = datetime(2026, 6, 30, 2, 0, tzinfo=UTC)
TS = int(NOW.timestamp())
MID = "0197b8a0-0000-7000-8000-000000000001"
BODY = b'{"data":{"n":1}}'


def _headers(**override: str) -> dict[str, str]:
    headers = signed_headers(SECRET, message_id=MID, timestamp=TS, body=BODY)
    headers.update(override)
    return headers


def test_valid_delivery_returns_its_id() -> None:
    assert verify_webhook(SECRET, _headers(), BODY, now=NOW) == MID


def test_signature_is_hmac_sha256_over_id_timestamp_and_body() -> None:
    # A known answer (HMAC-SHA256, key "k", message "m.1.{}"), so receivers in any language can check theirs.
    assert compute_signature("k", message_id="m", timestamp=1, body=b"{}") == (
        "e470c0b93913a713a192b93d6c11f302c221f5d1fdf3970f9d15f6085a8be622"
    )
    assert compute_signature(b"k", message_id="m", timestamp=1, body=b"{}") == compute_signature(
        "k", message_id="m", timestamp=1, body=b"{}"
    )
    assert _headers()["X-Xinyidai-Signature"] == "v1=" + compute_signature(SECRET, message_id=MID, timestamp=TS, body=BODY)
    assert _headers()["X-Xinyidai-Timestamp"] == str(TS)
    assert _headers()["X-Xinyidai-Id"] == MID


def test_header_names_are_case_insensitive() -> None:
    lowered = {k.lower(): v for k, v in _headers().items()}
    assert verify_webhook(SECRET, lowered, BODY, now=NOW) == MID


@pytest.mark.parametrize(
    ("secret", "headers", "body", "reason"),
    [
        ("another-secret", _headers(), BODY, "does not match"),
        (SECRET, _headers(), b'{"data":{"n":2}}', "does not match"),
        (SECRET, _headers(**{"X-Xinyidai-Id": "0197b8a0-0000-7000-8000-000000000002"}), BODY, "does not match"),
        (SECRET, _headers(**{"X-Xinyidai-Timestamp": str(TS + 1)}), BODY, "does not match"),
        (SECRET, _headers(**{"X-Xinyidai-Signature": "v0=" + "0" * 64}), BODY, "does not match"),
        (SECRET, _headers(**{"X-Xinyidai-Signature": ""}), BODY, "missing"),
        (SECRET, {"X-Xinyidai-Id": MID, "X-Xinyidai-Timestamp": str(TS)}, BODY, "missing"),
        (SECRET, _headers(**{"X-Xinyidai-Timestamp": "yesterday"}), BODY, "malformed"),
    ],
)
def test_bad_deliveries_are_refused(secret: str, headers: dict[str, str], body: bytes, reason: str) -> None:
    with pytest.raises(WebhookVerificationError, match=reason):
        verify_webhook(secret, headers, body, now=NOW)


@pytest.mark.parametrize("skew", [timedelta(seconds=301), timedelta(seconds=-301), timedelta(days=3)])
def test_stale_or_future_timestamps_are_refused(skew: timedelta) -> None:
    with pytest.raises(WebhookVerificationError, match="window"):
        verify_webhook(SECRET, _headers(), BODY, now=NOW + skew)


def test_timestamps_within_the_tolerance_pass() -> None:
    assert verify_webhook(SECRET, _headers(), BODY, now=NOW + timedelta(seconds=300)) == MID
    assert verify_webhook(SECRET, _headers(), BODY, now=NOW + timedelta(seconds=30), tolerance_s=30) == MID


def test_any_of_several_signatures_may_match_for_key_rotation() -> None:
    good = _headers()["X-Xinyidai-Signature"]
    headers = _headers(**{"X-Xinyidai-Signature": f"v1={'0' * 64}, {good}"})
    assert verify_webhook(SECRET, headers, BODY, now=NOW) == MID


@given(st.binary(max_size=2_000), st.text(min_size=1, max_size=64), st.binary(min_size=1, max_size=64))
def test_round_trip_and_any_flipped_byte_is_caught(body: bytes, secret: str, other: bytes) -> None:
    headers = signed_headers(secret, message_id=MID, timestamp=TS, body=body)
    assert verify_webhook(secret, headers, body, now=NOW) == MID
    with pytest.raises(WebhookVerificationError):
        verify_webhook(secret, headers, body + other, now=NOW)


def test_body_is_a_stable_json_envelope() -> None:
    message = OutboundMessage(
        id=uuid.UUID(MID),
        topic="report.issued",
        destination="https://bank.example/hook",
        payload={"名称": "示例", "n": 1},
        headers={},
        attempt=2,
        created_at=NOW,
        node_id="city-350100",
    )
    body = webhook_body(message)
    assert body == webhook_body(message)
    assert json.loads(body) == {
        "id": MID,
        "topic": "report.issued",
        "node_id": "city-350100",
        "created_at": "2026-06-30T02:00:00+00:00",
        "data": {"名称": "示例", "n": 1},
    }
    assert "名称".encode() in body  # UTF-8, not \u escapes
