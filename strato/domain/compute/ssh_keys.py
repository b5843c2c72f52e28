"""SSH public keys as OpenSSH writes them (``<type> <base64 blob> [comment]``), checked
whole: the blob must decode and name the same type as its text, as sshd would read it.
Fingerprints as CloudStack shows them (MD5, colon-separated hex) and as OpenSSH does
(``SHA256:`` unpadded base64)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from dataclasses import dataclass

TYPES = (
    "ssh-rsa",
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
)


@dataclass(frozen=True)
class PublicKey:
    type: str
    blob: bytes
    comment: str = ""

    @property
    def openssh(self) -> str:
        text = f"{self.type} {base64.b64encode(self.blob).decode()}"
        return f"{text} {self.comment}" if self.comment else text

    @property
    def md5(self) -> str:
        digest = hashlib.md5(self.blob, usedforsecurity=False).hexdigest()
        return ":".join(digest[i : i + 2] for i in range(0, 32, 2))

    @property
    def sha256(self) -> str:
        return "SHA256:" + base64.b64encode(hashlib.sha256(self.blob).digest()).decode().rstrip("=")


def parse(text: str) -> PublicKey:
    """The key in ``text``; ``ValueError`` saying what is wrong with it."""
    parts = text.strip().split(None, 2)
    if len(parts) < 2:
        raise ValueError("a public key is '<type> <base64> [comment]', as in id_ed25519.pub")
    kind, data = parts[0], parts[1]
    if kind not in TYPES:
        raise ValueError(f"key type {kind!r} is not one of {', '.join(TYPES)}")
    try:
        blob = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as err:
        raise ValueError("the key's base64 part does not decode") from err
    if len(blob) < 4:
        raise ValueError("the key's data is too short to be a key")
    (length,) = struct.unpack(">I", blob[:4])
    if blob[4 : 4 + length].decode("latin-1") != kind:
        raise ValueError(f"the key's data is not a {kind} key")
    minimum = {"ssh-rsa": 200, "ssh-ed25519": 51}.get(kind, 100)
    if len(blob) < minimum:
        raise ValueError(f"the key's data is too short for a {kind} key")
    comment = parts[2].strip() if len(parts) > 2 else ""
    if any(ord(c) < 32 for c in comment):
        raise ValueError("the key's comment has control characters")
    return PublicKey(kind, blob, comment)
