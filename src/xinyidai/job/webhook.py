"""Webhook transport: signed HTTP POSTs of outbox messages, and the check that receivers run on them."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from datetime import datetime

import httpx

from xinyidai.job.model import DeliveryError, OutboundMessage
from xinyidai.kernel.clock import Clock

HEADER_ID = "X-Xinyidai-Id"
HEADER_TIMESTAMP = "X-Xinyidai-Timestamp"
HEADER_SIGNATURE = "X-Xinyidai-Signature"
HEADER_TOPIC = "X-Xinyidai-Topic"
SIGNATURE_VERSION = "v1"

#: Looks up the shared secret of the subscriber behind a destination URL; None when there is none.
SecretLookup = Callable[[str], str | bytes | None]


def _key(secret: str | bytes) -> bytes:
    return secret.encode() if isinstance(secret, str) else secret


def compute_signature(secret: str | bytes, *, message_id: str, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 over "{id}.{timestamp}.{body}"; the id and time are signed so neither can be swapped."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    return hmac.new(_key(secret), signed, hashlib.sha256).hexdigest()


def webhook_body(message: OutboundMessage) -> bytes:
    """The JSON body of a delivery: an envelope around the payload (UTF-8, sorted keys, compact)."""
    envelope = {
        "id": str(message.id),
        "topic": message.topic,
        "node_id": message.node_id,
        "created_at": message.created_at.isoformat(),
        "data": message.payload,
    }
    return json.dumps(envelope, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def signed_headers(secret: str | bytes, *, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The id, timestamp and signature headers of one delivery."""
    signature = compute_signature(secret, message_id=message_id, timestamp=timestamp, body=body)
    return {
        HEADER_ID: message_id,
        HEADER_TIMESTAMP: str(timestamp),
        HEADER_SIGNATURE: f"{SIGNATURE_VERSION}={signature}",
    }


class WebhookVerificationError(Exception):
    """A delivery that must be refused: unsigned, badly signed, or outside the time window."""


def verify_webhook(secret: str | bytes, headers: Mapping[str, str], body: bytes, *, now: datetime, tolerance_s: int = 300) -> str:
    """Check a delivery's signature and timestamp; return its message id, or raise WebhookVerificationError.

    The timestamp window bounds how long a captured request can be replayed; within the
    window, receivers drop repeats by the returned id (deliveries are at least once).
    The signature header may carry several comma-separated `v1=` values (secret rotation).
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    message_id = lowered.get(HEADER_ID.lower())
    raw_timestamp = lowered.get(HEADER_TIMESTAMP.lower())
    raw_signature = lowered.get(HEADER_SIGNATURE.lower())
    if not message_id or not raw_timestamp or not raw_signature:
        raise WebhookVerificationError("missing webhook id, timestamp or signature header")
    try:
        timestamp = int(raw_timestamp)
    except ValueError:
        raise WebhookVerificationError("malformed webhook timestamp") from None
    if abs(now.timestamp() - timestamp) > tolerance_s:
        raise WebhookVerificationError("webhook timestamp outside the tolerated window")
    expected = compute_signature(secret, message_id=message_id, timestamp=timestamp, body=body)
    for part in raw_signature.split(","):
        version, _, value = part.strip().partition("=")
        if version == SIGNATURE_VERSION and hmac.compare_digest(value.strip().lower(), expected):
            return message_id
    raise WebhookVerificationError("webhook signature does not match")


class WebhookTransport:
    """Delivers outbox messages as signed JSON POSTs to http(s) destinations; register it for both schemes."""

    def __init__(
        self,
        secret_for: SecretLookup,
        *,
        clock: Clock,
        timeout: float = 10.0,
        client: httpx.Client | None = None,
        user_agent: str = "xinyidai-webhook/1",
    ) -> None:
        self._secret_for = secret_for
        self._clock = clock
        self._timeout = timeout
        self._client = client
        self._user_agent = user_agent

    def deliver(self, message: OutboundMessage) -> None:
        """POST the message; any answer but 2xx, or no answer within the timeout, is a failure to retry."""
        secret = self._secret_for(message.destination)
        if not secret:
            # Not permanent: the subscriber's secret may be configured before the retries run out.
            raise DeliveryError(f"no webhook secret configured for {message.destination}")
        body = webhook_body(message)
        headers = dict(message.headers)
        headers.update(
            {
                "Content-Type": "application/json; charset=utf-8",
                "User-Agent": self._user_agent,
                HEADER_TOPIC: message.topic,
            }
        )
        headers.update(
            signed_headers(secret, message_id=str(message.id), timestamp=int(self._clock.now().timestamp()), body=body)
        )
        try:
            if self._client is not None:
                response = self._client.post(message.destination, content=body, headers=headers, timeout=self._timeout)
            else:
                with httpx.Client(timeout=self._timeout, follow_redirects=False) as client:
                    response = client.post(message.destination, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise DeliveryError(f"{type(exc).__name__} posting to {message.destination}: {exc}") from exc
        if not response.is_success:
            raise DeliveryError(f"HTTP {response.status_code} from {message.destination}: {response.text[:200]}")
