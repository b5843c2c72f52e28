"""The delivery signature: what a receiver checks (docs/events.md)."""

from __future__ import annotations

from strato.events import signing

SECRET = "a-secret-of-enough-length"


def test_a_signature_verifies_only_its_body_secret_and_time() -> None:
    body = b'{"id":"7","type":"strato.vm.created"}'
    header = signing.sign(SECRET, body, 1_800_000_000)
    assert header.startswith("t=1800000000,v1=")
    assert signing.verify(SECRET, body, header, now=1_800_000_010)
    assert not signing.verify(SECRET, body + b" ", header, now=1_800_000_010)
    assert not signing.verify("another-secret-entirely", body, header, now=1_800_000_010)
    # A captured delivery replayed later than the tolerance is refused.
    assert not signing.verify(SECRET, body, header, now=1_800_000_000 + 301)
    # A forged time with the old MAC does not verify.
    forged = header.replace("t=1800000000", "t=1800000300")
    assert not signing.verify(SECRET, body, forged, now=1_800_000_300)
    for junk in ("", "v1=abc", "t=x,v1=abc", "t=1800000000"):
        assert not signing.verify(SECRET, body, junk, now=1_800_000_000)
