"""The router's metadata service answers each guest about itself only (its source
address picks its entry); the HTTP side is in tests/system/test_guest_network_packets.py."""

from __future__ import annotations

import json
from pathlib import Path

from strato.drivers.network.metadata import answer


def test_each_guest_is_told_about_itself_only(tmp_path: Path) -> None:
    table = {
        "10.0.0.5": {
            "instance-id": "vm-a",
            "local-hostname": "a",
            "local-ipv4": "10.0.0.5",
            "public-ipv4": None,
            "public-keys": ["ssh-ed25519 AAAA a@x"],
        },
        "10.0.0.6": {"instance-id": "vm-b", "public-keys": []},
    }
    (tmp_path / "metadata.json").write_text(json.dumps(table))
    (tmp_path / "userdata").mkdir()
    (tmp_path / "userdata" / "10.0.0.5").write_text("#cloud-config\n")
    assert answer(tmp_path, "10.0.0.5", "/latest/meta-data/instance-id") == (200, "vm-a\n")
    assert answer(tmp_path, "10.0.0.6", "/latest/meta-data/instance-id") == (200, "vm-b\n")
    assert answer(tmp_path, "10.0.0.5", "/latest/user-data") == (200, "#cloud-config\n")
    assert answer(tmp_path, "10.0.0.6", "/latest/user-data")[0] == 404
    assert answer(tmp_path, "10.0.0.7", "/latest/meta-data/instance-id")[0] == 404  # a stranger
    assert answer(tmp_path, "10.0.0.5", "/latest/meta-data/public-keys") == (200, "0=key-0\n")
    key = answer(tmp_path, "10.0.0.5", "/latest/meta-data/public-keys/0/openssh-key")
    assert key == (200, "ssh-ed25519 AAAA a@x\n")
    assert answer(tmp_path, "10.0.0.6", "/latest/meta-data/public-keys/0/openssh-key")[0] == 404
    assert answer(tmp_path, "10.0.0.5", "/latest/meta-data/public-ipv4")[0] == 404
    assert "instance-id" in answer(tmp_path, "10.0.0.5", "/latest/meta-data/")[1]
