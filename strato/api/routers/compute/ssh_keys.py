"""SSH key pairs: an owner's public keys, given to VMs at deploy (``ssh_key_pair_ids``)."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Response, status

from strato.api.crud import list_response
from strato.api.deps import CallerDep, CommandsDep, DbDep
from strato.api.schemas.common import Filter, ListPage
from strato.commands import ssh_keys as commands
from strato.domain.compute.models import SshKeyPair
from strato.domain.fields import Text
from strato.schema import repository
from strato.schema.compute.ssh_keys import SSH_KEY_PAIRS

router = APIRouter(prefix="/ssh-key-pairs", tags=["ssh key pairs"])


class SshKeyPairFilter(Filter):
    name: Text | None = None
    owner: Text | None = None
    fingerprint: Text | None = None


@router.get("", response_model=ListPage[SshKeyPair], summary="List SSH key pairs")
async def list_pairs(db: DbDep, _: CallerDep, flt: Annotated[SshKeyPairFilter, Query()]) -> Any:
    return await list_response(db, SSH_KEY_PAIRS, flt)


@router.get("/{id}", response_model=SshKeyPair, summary="An SSH key pair")
async def get_pair(id: UUID, db: DbDep, _: CallerDep) -> Any:
    async with db.conn() as conn:
        return await repository.get(conn, SSH_KEY_PAIRS, id)


@router.post(
    "",
    response_model=commands.SshKeyPairCreated,
    status_code=status.HTTP_201_CREATED,
    summary="Make a key pair (its private key is in this answer only) or register a public key",
)
async def create_pair(
    body: commands.SshKeyPairCreate, ctx: CommandsDep, response: Response
) -> commands.SshKeyPairCreated:
    created = await commands.create(ctx, body)
    response.headers["Location"] = f"/api/v1/ssh-key-pairs/{created.id}"
    return created


@router.delete("/{id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a key pair")
async def delete_pair(id: UUID, ctx: CommandsDep) -> Response:
    await commands.delete(ctx, id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
