"""SSH key pairs: an owner's public keys by name."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from strato.domain.compute.models import SshKeyPair
from strato.domain.errors import InvalidInput, NotFound
from strato.schema import repository
from strato.schema.repository import TableSpec

SSH_KEY_PAIRS = TableSpec(
    "ssh_key_pairs", "ssh_key_pair", SshKeyPair, state_column=None, owner="owner"
)


async def public_keys(conn: Any, ids: list[UUID], owner: str) -> list[str]:
    """The public keys of these key pairs of ``owner``, in order (another owner's is bad
    input, as a missing one is)."""
    keys = []
    for i, key_id in enumerate(ids):
        try:
            pair: SshKeyPair = await repository.get(conn, SSH_KEY_PAIRS, key_id)
        except NotFound as err:
            raise InvalidInput(
                f"ssh_key_pair_ids[{i}]: {err.detail}", field="ssh_key_pair_ids"
            ) from err
        if pair.owner != owner:
            raise InvalidInput(
                f"ssh_key_pair_ids[{i}]: key pair {pair.name} is not the VM owner's",
                field="ssh_key_pair_ids",
            )
        keys.append(pair.public_key)
    return keys
