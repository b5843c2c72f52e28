"""CloudStack's wire format: parameters, signatures, errors and response envelopes.

A request is ``command=<name>`` plus parameters, in the query string or a form body,
names matched case-insensitively. It is signed as CloudStack signs: the parameters but
``signature``, sorted by name, each ``name=<url-encoded value>``, joined by ``&``, the
whole lower-cased, HMAC-SHA1 with the secret key, base64. Clients URL-encode a little
differently (Java's URLEncoder, Python's ``quote``, Go's ``QueryEscape``), so each
spelling they produce is accepted.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import escape

# ApiErrorCode: the HTTP status of an error answer is its errorcode.
UNAUTHORIZED = 401
MALFORMED = 430
PARAM_ERROR = 431
UNSUPPORTED = 432
LIMIT_EXCEEDED = 429
INTERNAL = 530
ACCOUNT_ERROR = 531
RESOURCE_LIMIT = 532
INSUFFICIENT_CAPACITY = 533
RESOURCE_UNAVAILABLE = 534
RESOURCE_ALLOCATION = 535
RESOURCE_IN_USE = 536
RULE_CONFLICT = 537

# CSExceptionErrorCode: which exception class CloudStack would have thrown.
CS_RUNTIME = 4250
CS_LIMIT = 4280
CS_AUTH = 4290
CS_INSUFFICIENT_ADDRESS = 4320
CS_INSUFFICIENT_CAPACITY = 4325
CS_INVALID_PARAMETER = 4350
CS_RULE_CONFLICT = 4360
CS_PERMISSION_DENIED = 4365
CS_RESOURCE_ALLOCATION = 4370
CS_IN_USE = 4375
CS_UNAVAILABLE = 4380
CS_SERVER_API = 9999

VERSION = "4.20.0.0-strato"

# A synchronous command's success: CloudStack answers it as a string (an async job's
# result has a JSON true), and libcloud's driver compares it with "true".
SUCCESS = {"success": "true"}


class CsError(Exception):
    """An error answered in CloudStack's envelope, with HTTP status ``code``."""

    def __init__(self, code: int, text: str, cs_code: int | None = CS_SERVER_API) -> None:
        super().__init__(text)
        self.code = code
        self.text = text
        self.cs_code = cs_code


def param_error(text: str) -> CsError:
    return CsError(PARAM_ERROR, text, CS_INVALID_PARAMETER)


# -- parameters ------------------------------------------------------------------


def lowered(items: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The request's parameters by lower-cased name (the first value of a repeated one)."""
    found: dict[str, str] = {}
    for name, value in items:
        found.setdefault(name.lower(), value)
    return found


def maps(params: Mapping[str, str], name: str) -> list[dict[str, str]]:
    """A map parameter in CloudStack's spelling, ``tags[0].key=a&tags[0].value=b``:
    its entries in index order, each with lower-cased fields."""
    prefix = name.lower() + "["
    entries: dict[int, dict[str, str]] = {}
    for key, value in params.items():
        if not key.startswith(prefix):
            continue
        index, _, rest = key[len(prefix) :].partition("]")
        field = rest.removeprefix(".")
        if not (index.isascii() and index.isdigit()) or not field:
            raise param_error(f"malformed map parameter {key!r}: expected {name}[N].<field>")
        entries.setdefault(int(index), {})[field] = value
    return [entries[i] for i in sorted(entries)]


# -- signatures ------------------------------------------------------------------


def _java(value: str) -> str:
    # Java's URLEncoder, then "+" -> "%20": '*' kept, '~' encoded.
    return quote(value, safe="*").replace("~", "%7E")


def _python(value: str) -> str:
    # urllib's quote (and Go's QueryEscape, '+' made %20): '~' kept, '*' encoded.
    return quote(value, safe="")


def _python_star(value: str) -> str:
    return quote(value, safe="*")


def _libcloud(value: str) -> str:
    # libcloud's: '[' and ']' kept as well as '*'.
    return quote(value, safe="[]*")


_ENCODERS = (_java, _python, _python_star, _libcloud)


def strings_to_sign(items: Iterable[tuple[str, str]]) -> set[str]:
    """Each spelling of the request's string to sign that a known client may have
    signed (every parameter but ``signature``): CloudStack's own (Java's URLEncoder,
    CloudMonkey's), the ``cs`` library's and Go's (``~`` kept), and libcloud's (``[``
    and ``]`` kept, names lower-cased before sorting). Names are not encoded in it (as
    CloudStack's), so a request's names are checked first (:func:`check_names`)."""
    pairs = [(k, v) for k, v in items if k.lower() != "signature"]
    orders = (
        sorted(pairs, key=lambda kv: kv[0].lower()),
        sorted(pairs, key=lambda kv: kv[0]),
    )
    return {
        "&".join(f"{k}={enc(v)}" for k, v in order).lower() for order in orders for enc in _ENCODERS
    }


_NAME = re.compile(r"^[A-Za-z0-9_.\[\]-]{1,128}$")
# Control characters CloudStack refuses in a value (tab, newline, return are allowed).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def check_names(items: Iterable[tuple[str, str]]) -> None:
    """Refuse parameter names outside CloudStack's alphabet (a name holding ``=`` or
    ``&`` could make two requests sign alike) and values with control characters."""
    for name, value in items:
        if not _NAME.match(name):
            raise CsError(MALFORMED, f"malformed parameter name {name[:40]!r}")
        if _CONTROL.search(value):
            raise CsError(
                PARAM_ERROR,
                "Received value containing illegal ASCII non-printable characters for "
                f"parameter {name}",
            )


def sign(secret: str, text: str) -> str:
    digest = hmac.new(secret.encode(), text.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def signature_matches(secret: str, items: list[tuple[str, str]], signature: str) -> bool:
    given = signature.strip().encode("utf-8", "replace")
    found = False
    for text in strings_to_sign(items):
        # every candidate is checked, so the time taken tells nothing of which matched
        found |= hmac.compare_digest(given, sign(secret, text).encode())
    return found


def parse_expires(value: str) -> datetime:
    """CloudStack's ``expires``: ``yyyy-MM-dd'T'HH:mm:ssZ`` (``+0000``, ``+00:00`` or
    ``Z``), optionally with milliseconds."""
    text = value.strip().replace(" ", "+")  # a '+' sent unencoded arrives as a space
    for fmt in ("%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S.%f%z"):
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    raise CsError(
        UNAUTHORIZED,
        f"expires {value!r} is not a date as yyyy-MM-dd'T'HH:mm:ssZ",
        None,
    )


def expired(at: datetime) -> bool:
    return at <= datetime.now(UTC)


# -- responses -------------------------------------------------------------------


def envelope_name(command: str) -> str:
    return f"{command.lower()}response"


def error_body(err: CsError) -> dict[str, Any]:
    body: dict[str, Any] = {"uuidList": [], "errorcode": err.code}
    if err.cs_code is not None:
        body["cserrorcode"] = err.cs_code
    body["errortext"] = err.text
    return body


def to_json(name: str, body: Mapping[str, Any]) -> bytes:
    return json.dumps({name: body}, separators=(",", ":"), default=str).encode()


def _xml_value(tag: str, value: Any, out: list[str]) -> None:
    if isinstance(value, list):
        for item in value:
            _xml_value(tag, item, out)
        return
    out.append(f"<{tag}>")
    if isinstance(value, Mapping):
        for key, inner in value.items():
            _xml_value(key, inner, out)
    elif isinstance(value, bool):
        out.append("true" if value else "false")
    elif value is not None:
        out.append(escape(str(value)))
    out.append(f"</{tag}>")


def to_xml(name: str, body: Mapping[str, Any]) -> bytes:
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<{name} cloud-stack-version="{VERSION}">',
    ]
    for key, value in body.items():
        _xml_value(key, value, out)
    out.append(f"</{name}>")
    return "".join(out).encode()
