"""SSH key pairs: make one (its private key returned once, never stored) or register a
public key; delete. Listed and read through the owned-resource views."""

from __future__ import annotations

import asyncio
from typing import Literal
from uuid import UUID, uuid4

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from pydantic import Field

from strato.commands.auth import Action
from strato.commands.context import CommandContext
from strato.domain.compute import ssh_keys
from strato.domain.compute.models import SshKeyPair
from strato.domain.errors import InvalidInput
from strato.domain.fields import Name, Request, Text
from strato.schema import repository
from strato.schema.compute.ssh_keys import SSH_KEY_PAIRS


class SshKeyPairCreate(Request):
    name: Name
    owner: Text = ""
    # Register this public key; none: make a new pair and return its private key once.
    public_key: str | None = Field(default=None, max_length=16384)
    type: Literal["ed25519", "rsa"] = "ed25519"


class SshKeyPairCreated(SshKeyPair):
    private_key: str | None = None  # PEM (OpenSSH format), only in this answer


def _generate(kind: str) -> tuple[str, str]:
    """(OpenSSH public key, OpenSSH private key)."""
    key: ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey = (
        ed25519.Ed25519PrivateKey.generate()
        if kind == "ed25519"
        else rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    return public, private


async def create(ctx: CommandContext, body: SshKeyPairCreate) -> SshKeyPairCreated:
    await ctx.authorize(Action("ssh-key-pair.create", "ssh_key_pair"))
    body = ctx.owned_by_caller(body)
    private = None
    if body.public_key is None:  # an RSA key takes a while to make: off the event loop
        text, private = await asyncio.to_thread(_generate, body.type)
    else:
        text = body.public_key
    try:
        key = ssh_keys.parse(text)
    except ValueError as err:
        raise InvalidInput(f"public_key: {err}", field="public_key") from err
    values = {
        "id": uuid4(),
        "name": body.name,
        "owner": body.owner,
        "public_key": key.openssh,
        "fingerprint": key.md5,
        "fingerprint_sha256": key.sha256,
    }
    async with ctx.db.tx() as conn:
        pair: SshKeyPair = await repository.insert(conn, SSH_KEY_PAIRS, values)
    return SshKeyPairCreated(**pair.model_dump(), private_key=private)


async def delete(ctx: CommandContext, key_id: UUID) -> None:
    await ctx.authorize(Action("ssh-key-pair.delete", "ssh_key_pair", key_id))
    async with ctx.db.tx() as conn:
        await repository.delete(conn, SSH_KEY_PAIRS, key_id)
