"""SSH key pairs: made (the private key returned once, and matching the public key),
registered (fingerprints as ssh-keygen prints them), refused when malformed or taken,
and given to a VM at deploy."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
from cryptography.hazmat.primitives import serialization

from strato.schema.db import Database
from tests.conftest import Platform
from tests.helpers import ok, table_counts, unique, wait_operation
from tests.workflows.vm_helpers import deploy, vm_zone


def _keygen_fingerprints(tmp_path: Path) -> tuple[str, str, str]:
    """A key made by ssh-keygen, and its MD5 and SHA256 fingerprints as ssh-keygen says."""
    key = tmp_path / "id"
    subprocess.run(["ssh-keygen", "-q", "-t", "rsa", "-b", "2048", "-N", "", "-C", "me@there",
                    "-f", str(key)], check=True)  # fmt: skip
    fps = []
    for algo in ("md5", "sha256"):
        out = subprocess.run(["ssh-keygen", "-l", "-E", algo, "-f", f"{key}.pub"],
                             check=True, capture_output=True, text=True).stdout  # fmt: skip
        fps.append(out.split()[1].removeprefix("MD5:"))
    return (key.with_suffix(".pub").read_text().strip(), fps[0], fps[1])


async def test_a_made_pair_returns_its_private_key_once(api: httpx.AsyncClient) -> None:
    for kind, prefix in (("ed25519", "ssh-ed25519 "), ("rsa", "ssh-rsa ")):
        made = await ok(await api.post("/ssh-key-pairs", json={"name": kind, "type": kind}), 201)
        assert made["public_key"].startswith(prefix)
        private = serialization.load_ssh_private_key(made["private_key"].encode(), None)
        public = private.public_key().public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        )
        assert public.decode() == made["public_key"]  # the pair is a pair
        again = await ok(await api.get(f"/ssh-key-pairs/{made['id']}"))
        assert "private_key" not in again and again["fingerprint"] == made["fingerprint"]
    listed = await ok(await api.get("/ssh-key-pairs"))
    assert {p["name"] for p in listed["items"]} == {"ed25519", "rsa"}


async def test_a_registered_key_has_ssh_keygens_fingerprints(
    api: httpx.AsyncClient, tmp_path: Path
) -> None:
    text, md5, sha256 = _keygen_fingerprints(tmp_path)
    pair = await ok(
        await api.post("/ssh-key-pairs", json={"name": "mine", "public_key": text}), 201
    )
    assert pair["private_key"] is None
    assert (pair["fingerprint"], pair["fingerprint_sha256"]) == (md5, sha256)
    assert pair["public_key"] == text
    found = await ok(await api.get("/ssh-key-pairs", params={"fingerprint": md5}))
    assert [p["id"] for p in found["items"]] == [pair["id"]]


async def test_malformed_or_taken_keys_are_refused_and_change_nothing(
    api: httpx.AsyncClient, db: Database, tmp_path: Path
) -> None:
    text, _, _ = _keygen_fingerprints(tmp_path)
    await ok(await api.post("/ssh-key-pairs", json={"name": "taken", "public_key": text}), 201)
    _, data, _ = text.split(" ", 2)
    before = await table_counts(db)
    cases = [
        ({"name": "a", "public_key": "ssh-rsa"}, 422, "'<type> <base64> [comment]'"),
        ({"name": "a", "public_key": f"ssh-dsa {data}"}, 422, "is not one of"),
        ({"name": "a", "public_key": "ssh-rsa !!notbase64!!"}, 422, "does not decode"),
        ({"name": "a", "public_key": f"ssh-ed25519 {data}"}, 422, "not a ssh-ed25519 key"),
        ({"name": "a", "public_key": "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAA"}, 422, "too short"),
        ({"name": "a", "type": "dsa"}, 422, ""),
        ({"name": "taken", "public_key": text}, 409, ""),
    ]
    for body, status, words in cases:
        r = await api.post("/ssh-key-pairs", json=body)
        assert r.status_code == status, (body, r.text)
        assert words in r.json()["detail"] or not words, r.text
    assert await table_counts(db) == before


async def test_a_pair_given_at_deploy_becomes_the_vms_key(
    platform: Platform, api: httpx.AsyncClient, db: Database
) -> None:
    fab = await vm_zone(api, hosts=1, network=False)
    pair = await ok(await api.post("/ssh-key-pairs", json={"name": unique("k")}), 201)
    other = await ok(
        await api.post("/ssh-key-pairs", json={"name": unique("k"), "owner": "someone-else"}), 201
    )
    accepted = await deploy(api, fab, ssh_key_pair_ids=[pair["id"]], start=False)
    await wait_operation(api, accepted["operation"]["id"])
    async with db.conn() as conn:
        keys = await conn.fetchval("SELECT ssh_keys FROM vms WHERE id = $1",
                                   accepted["resource"]["id"])  # fmt: skip
    assert keys == [pair["public_key"]]
    before = await table_counts(db)
    r = await api.post("/vms", json={
        "name": unique("vm"), "zone_id": fab["zone"]["id"], "template_id": fab["template"]["id"],
        "service_offering_id": fab["offering"]["id"], "ssh_key_pair_ids": [other["id"]],
    })  # fmt: skip
    assert r.status_code == 422 and "not the VM owner's" in r.json()["detail"], r.text
    assert await table_counts(db) == before
    await ok(await api.delete(f"/ssh-key-pairs/{pair['id']}"), 204)
    assert (await api.get(f"/ssh-key-pairs/{pair['id']}")).status_code == 404
