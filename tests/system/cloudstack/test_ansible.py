"""Ansible's CloudStack collection (ngine_io.cloudstack, carried by the `ansible`
package), unchanged, against a real `strato up`: a playbook runs the full scenario;
its create tasks repeated change nothing (the modules' idempotency reads our
responses)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.system.cloudstack.conftest import StratoUp

pytestmark = pytest.mark.system

COLLECTION = "ansible_collections/ngine_io/cloudstack"

PLAY = """
- hosts: localhost
  gather_facts: false
  tasks:
    - ngine_io.cloudstack.cs_zone_info:
        zone: demo
      register: zone
    - ngine_io.cloudstack.cs_network:
        name: ans-net
        display_text: ans-net
        network_offering: DefaultIsolatedNetworkOfferingWithSourceNatService
        zone: demo
      register: net
    - ngine_io.cloudstack.cs_sshkeypair:
        name: ans-key
      register: key
    - ngine_io.cloudstack.cs_instance:
        name: ans-web
        template: tiny-linux
        service_offering: small
        networks: [ans-net]
        ssh_key: ans-key
        zone: demo
      register: vm
    - ngine_io.cloudstack.cs_instance:
        name: ans-web
        template: tiny-linux
        service_offering: small
        networks: [ans-net]
        ssh_key: ans-key
        zone: demo
      register: vm_again
    - ngine_io.cloudstack.cs_network:
        name: ans-net
        display_text: ans-net
        network_offering: DefaultIsolatedNetworkOfferingWithSourceNatService
        zone: demo
      register: net_again
    - ngine_io.cloudstack.cs_instance:
        zone: demo
        name: ans-web
        state: stopped
    - ngine_io.cloudstack.cs_instance:
        zone: demo
        name: ans-web
        state: started
    - ngine_io.cloudstack.cs_instance:
        zone: demo
        name: ans-web
        state: restarted
    - ngine_io.cloudstack.cs_volume:
        name: ans-data
        disk_offering: small-20g
        zone: demo
    - ngine_io.cloudstack.cs_volume:
        zone: demo
        name: ans-data
        vm: ans-web
        state: attached
      register: attached
    - ngine_io.cloudstack.cs_volume:
        zone: demo
        name: ans-data
        state: detached
    - ngine_io.cloudstack.cs_volume:
        zone: demo
        name: ans-data
        state: absent
    - ngine_io.cloudstack.cs_instance:
        zone: demo
        name: ans-web
        state: stopped
    - ngine_io.cloudstack.cs_vmsnapshot:
        zone: demo
        name: ans-snap
        vm: ans-web
      register: snap
    - ngine_io.cloudstack.cs_instance:
        zone: demo
        name: ans-web
        state: started
    - ngine_io.cloudstack.cs_ip_address:
        network: ans-net
        zone: demo
        tags: [{key: role, value: web}]
      register: ip
    - ngine_io.cloudstack.cs_portforward:
        zone: demo
        ip_address: "{{ ip.ip_address }}"
        public_port: 2222
        private_port: 22
        vm: ans-web
      register: forward
    - ansible.builtin.copy:
        dest: "{{ out }}"
        content: "{{ {'zone': zone, 'net': net, 'key': key, 'vm': vm, 'attached': attached,
                      'snap': snap, 'ip': ip, 'forward': forward, 'vm_again': vm_again,
                      'net_again': net_again} | to_json }}"
    - ngine_io.cloudstack.cs_portforward:
        zone: demo
        ip_address: "{{ ip.ip_address }}"
        public_port: 2222
        private_port: 22
        state: absent
    - ngine_io.cloudstack.cs_ip_address:
        zone: demo
        ip_address: "{{ ip.ip_address }}"
        state: absent
    - ngine_io.cloudstack.cs_instance:
        zone: demo
        name: ans-web
        state: expunged
"""


def _run(up: StratoUp, who: dict[str, str], tmp: Path, play: str, out: Path) -> str:
    book = tmp / "play.yml"
    book.write_text(play)
    env = {
        **os.environ,
        "CLOUDSTACK_ENDPOINT": up.endpoint,
        "CLOUDSTACK_KEY": who["key"],
        "CLOUDSTACK_SECRET": who["secret"],
        "ANSIBLE_LOCALHOST_WARNING": "false",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
        "ANSIBLE_HOME": str(tmp / "ansible-home"),
    }
    bindir = os.path.dirname(sys.executable)
    done = subprocess.run(
        [
            os.path.join(bindir, "ansible-playbook"),
            "-i", "localhost,", "-c", "local",
            "-e", f"ansible_python_interpreter={sys.executable}",
            "-e", f"out={out}",
            str(book),
        ],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    return done.stdout


def test_ansible_playbook_scenario(strato_up: StratoUp, tmp_path: Path) -> None:
    import ansible  # the package carries the collection

    site = Path(ansible.__file__).resolve().parents[1]
    if not (site / COLLECTION).is_dir():
        pytest.fail(f"the installed ansible package has no {COLLECTION}")
    who = strato_up.account()
    out = tmp_path / "facts.json"
    _run(strato_up, who, tmp_path, PLAY, out)
    facts: dict[str, Any] = json.loads(out.read_text())
    assert facts["zone"]["zones"][0]["name"] == "demo"
    assert facts["net"]["name"] == "ans-net" and facts["net"]["changed"]
    assert facts["key"]["fingerprint"] and facts["key"]["private_key"].startswith("-----BEGIN")
    vm = facts["vm"]
    assert vm["state"] == "Running" and vm["ssh_key"] == "ans-key" and vm["changed"]
    assert facts["attached"]["vm"] == "ans-web" and facts["attached"]["changed"]
    assert facts["snap"]["state"] == "Ready" and facts["snap"]["changed"]
    assert facts["ip"]["ip_address"].startswith("203.0.113.")
    assert facts["forward"]["public_port"] == 2222 and facts["forward"]["vm_name"] == "ans-web"
    # the same tasks again change nothing: the modules found what they made, as it is
    assert not facts["vm_again"]["changed"] and facts["vm_again"]["id"] == vm["id"]
    assert not facts["net_again"]["changed"]
