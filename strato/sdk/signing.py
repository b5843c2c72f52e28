"""Signed requests: an API key pair (access key and secret) proves each request with an
HMAC-SHA256 over its canonical form, so the secret never travels.

The canonical request is six lines joined by ``\\n``::

    STRATO-HMAC-SHA256
    <X-Strato-Date: 20261203T114500Z>
    <METHOD>
    <path, percent-decoded, as the server routes it: /api/v1/vms>
    <query: name=value pairs sorted, each side percent-encoded (RFC 3986), joined by &>
    <X-Strato-Content-SHA256: hex SHA-256 of the body, or UNSIGNED-PAYLOAD>

and the request carries::

    Authorization: STRATO-HMAC-SHA256 Credential=<access key>, Signature=<hex HMAC>
    X-Strato-Date: <as signed>
    X-Strato-Content-SHA256: <as signed>

The server refuses a date more than its window (five minutes by default) from its own
clock, so a captured request cannot be replayed later. With the SDK::

    client = StratoClient(url, None, auth=HmacAuth(access_key, secret_key))
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Generator, Iterable
from datetime import UTC, datetime
from urllib.parse import quote

import httpx

ALGORITHM = "STRATO-HMAC-SHA256"
DATE_HEADER = "X-Strato-Date"
CONTENT_HEADER = "X-Strato-Content-SHA256"
UNSIGNED = "UNSIGNED-PAYLOAD"
DATE_FORMAT = "%Y%m%dT%H%M%SZ"


def _enc(text: str) -> str:
    return quote(text, safe="-_.~")


def canonical(
    method: str, path: str, query: Iterable[tuple[str, str]], date: str, content_sha256: str
) -> str:
    """The text a request's signature is over (the six lines of the module's doc)."""
    pairs = "&".join(f"{_enc(k)}={_enc(v)}" for k, v in sorted(query))
    return "\n".join([ALGORITHM, date, method.upper(), path, pairs, content_sha256])


def signature(secret: str, text: str) -> str:
    """The hex HMAC-SHA256 of ``text`` under ``secret``."""
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()


def stamp(now: datetime | None = None) -> str:
    """An X-Strato-Date value: ``now`` (default: the current time), in UTC."""
    return (now or datetime.now(UTC)).strftime(DATE_FORMAT)


def sign_headers(
    access_key: str,
    secret: str,
    method: str,
    path: str,
    query: Iterable[tuple[str, str]],
    body: bytes | None,
    *,
    now: datetime | None = None,
) -> dict[str, str]:
    """The headers that sign one request (``body`` None: its payload unsigned)."""
    date = stamp(now)
    digest = UNSIGNED if body is None else hashlib.sha256(body).hexdigest()
    sig = signature(secret, canonical(method, path, query, date, digest))
    return {
        "Authorization": f"{ALGORITHM} Credential={access_key}, Signature={sig}",
        DATE_HEADER: date,
        CONTENT_HEADER: digest,
    }


class HmacAuth(httpx.Auth):
    """httpx authentication that signs every request with an API key pair. A streamed
    body (an upload) is sent with its payload unsigned."""

    # Not True: that would read a streamed upload whole into memory. A bytes or JSON
    # body is read at construction anyway, so it is signed.
    requires_request_body = False

    def __init__(self, access_key: str, secret_key: str) -> None:
        self.access_key = access_key
        self.secret_key = secret_key

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Add the signing headers to ``request`` and send it."""
        try:
            body: bytes | None = request.content
        except httpx.RequestNotRead:
            body = None
        request.headers.update(
            sign_headers(
                self.access_key,
                self.secret_key,
                request.method,
                request.url.path,
                request.url.params.multi_items(),
                body,
            )
        )
        yield request
