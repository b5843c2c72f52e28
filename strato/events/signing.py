"""How a webhook delivery is signed, and how a receiver checks it.

Every delivery is a POST whose body is the event's CloudEvents 1.0 JSON envelope
(``Content-Type: application/cloudevents+json``), with these headers:

- ``Strato-Event-Id``: the event's id (a receiver drops a redelivered duplicate by it);
- ``Strato-Webhook-Id``: the subscription's id;
- ``Strato-Signature: t=<unix seconds>,v1=<hex>``, where ``<hex>`` is
  HMAC-SHA256, keyed with the subscription's secret, over ``<t>.`` followed by the raw
  body bytes.

A receiver recomputes the HMAC over the body it read (before parsing it), compares in
constant time, and refuses a timestamp older than its tolerance (5 minutes here), so a
captured delivery cannot be replayed later. A retry is signed anew, with its own time.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "Strato-Signature"
EVENT_ID_HEADER = "Strato-Event-Id"
WEBHOOK_ID_HEADER = "Strato-Webhook-Id"
CONTENT_TYPE = "application/cloudevents+json"
TOLERANCE_S = 300


def _mac(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The ``Strato-Signature`` header value for ``body`` sent at ``timestamp``."""
    return f"t={timestamp},v1={_mac(secret, timestamp, body)}"


def verify(
    secret: str, body: bytes, header: str, *, now: float, tolerance_s: float = TOLERANCE_S
) -> bool:
    """Whether ``header`` signs ``body`` with ``secret``, made within the tolerance."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    stamp = parts.get("t", "")
    if not (stamp.isascii() and stamp.isdigit()) or "v1" not in parts:
        return False
    timestamp = int(stamp)
    if abs(now - timestamp) > tolerance_s:
        return False
    return hmac.compare_digest(parts["v1"], _mac(secret, timestamp, body))
