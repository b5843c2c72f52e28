"""Strato's rows in CloudStack's response shapes: field names, states, formats."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid5

MiB = 1 << 20
_NS = UUID("6f1c1f0e-4a53-4c62-9d39-36a4f0d4d3a1")  # for ids CloudStack has and we do not


def date(value: datetime) -> str:
    """CloudStack's dates: ``2026-12-03T14:37:10+0000``."""
    return value.strftime("%Y-%m-%dT%H:%M:%S%z")


def plain(value: Any) -> Any:
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):
        return date(value)
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items() if v is not None}
    return value


def _base(row: dict[str, Any], *drop: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        if value is None or key in drop or key in ("owner", "accountid", "domainpath"):
            continue
        if isinstance(value, str) and key in ("nic", "securitygroup", "affinitygroup", "tags"):
            value = json.loads(value)
        out[key] = plain(value)
    if "tags" not in out:
        out["tags"] = []
    return out


def os_type_id(name: str) -> str:
    return str(uuid5(_NS, "ostype:" + name))


HYPERVISORS = {"kvm": "KVM", "simulator": "Simulator"}


def hypervisor(value: str | None) -> str:
    return HYPERVISORS.get((value or "kvm").lower(), value or "KVM")


def vm_state(row: dict[str, Any]) -> str:
    state: str = row["state"]
    if state == "Allocated":
        return "Starting" if row.get("current_operation_kind") == "vm.deploy" else "Stopped"
    if state == "Expunged":
        return "Expunging"  # CloudStack's last state of a VM before it is gone
    return state


def virtual_machine(row: dict[str, Any]) -> dict[str, Any]:
    out = _base(row, "current_operation_kind", "root_volume_id", "keypairs")
    out["state"] = vm_state(row)
    out["hypervisor"] = hypervisor(row.get("hypervisor"))
    out["rootdeviceid"] = 0
    out["rootdevicetype"] = "ROOT"
    out["passwordenabled"] = False
    out["isdynamicallyscalable"] = False
    out["guestosid"] = os_type_id("Other Linux (64-bit)")
    out.setdefault("haenable", False)
    keys = row.get("keypairs") or []
    if keys:
        out["keypair"] = ",".join(keys)
        out["keypairs"] = ",".join(keys)
    for nic in out.get("nic", []):
        nic["isolationuri"] = nic.get("broadcasturi")
    if row.get("state") == "Destroyed":
        out["isexpunged"] = False
    return out


def service_offering(row: dict[str, Any]) -> dict[str, Any]:
    out = _base(row, "state", "storagetags")
    out.update(
        storagetype="shared",
        issystem=False,
        isvolatile=False,
        iscustomized=False,
        limitcpuuse=False,
        defaultuse=False,
        provisioningtype="thin",
        hosttags=row.get("hosttags") or None,
        tags=row.get("storagetags") or None,
    )
    return {k: v for k, v in out.items() if v is not None}


def disk_offering(row: dict[str, Any]) -> dict[str, Any]:
    out = _base(row, "tagsstr")
    out.setdefault("disksize", 0)  # a custom size's offering (CloudStack shows 0)
    out["storagetype"] = "shared"
    out["displayoffering"] = True
    if row.get("tagsstr"):
        out["tags"] = row["tagsstr"]
    else:
        out.pop("tags", None)
    return out


def template(row: dict[str, Any], zone: dict[str, Any] | None = None) -> dict[str, Any]:
    out = _base(row, "state", "last_error", "format", "ostypename", "url", "checksum")
    ready = row["state"] == "Ready"
    iso = row.get("format") == "iso"
    out.update(
        isready=ready,
        status="Download Complete" if ready else (row.get("last_error") or row["state"]),
        format=(row.get("format") or "qcow2").upper(),
        ostypename=row.get("ostypename") or "Other Linux (64-bit)",
        ostypeid=os_type_id(row.get("ostypename") or "Other Linux (64-bit)"),
        templatetype="USER",
        hypervisor="KVM",
        passwordenabled=False,
        sshkeyenabled=True,
        isextractable=False,
        crossZones=row.get("zoneid") is None,
        bootable=iso or None,
    )
    if row.get("checksum"):
        out["checksum"] = row["checksum"]
    if zone is not None and out.get("zoneid") is None:
        out["zoneid"], out["zonename"] = str(zone["id"]), zone["name"]
    if iso:
        for key in ("templatetype", "passwordenabled", "sshkeyenabled", "hypervisor", "format"):
            out.pop(key, None)
    return {k: v for k, v in out.items() if v is not None}


def ssh_key_pair(row: dict[str, Any]) -> dict[str, Any]:
    return _base(row, "created")


def volume(row: dict[str, Any]) -> dict[str, Any]:
    out = _base(row, "poolscope", "format", "state")
    state = row["state"]
    out["state"] = {"Destroy": "Destroy", "Expunging": "Expunging"}.get(state, state)
    out["storagetype"] = "local" if row.get("poolscope") == "host" else "shared"
    out["hypervisor"] = "KVM"
    out["provisioningtype"] = "thin"
    if row.get("vmname") is None:  # a detached volume has no device
        out.pop("deviceid", None)
    out["isextractable"] = False
    return {k: v for k, v in out.items() if v is not None}


_INTERVALS = {"HOURLY": 0, "DAILY": 1, "WEEKLY": 2, "MONTHLY": 3}


def snapshot(row: dict[str, Any]) -> dict[str, Any]:
    out = _base(row, "last_error")
    # A snapshot kept on primary storage is ready to use: CloudStack shows it BackedUp
    # (as it does with snapshot.backup.to.secondary off).
    state = "BackedUp" if row["state"] == "CreatedOnPrimary" else row["state"]
    out["state"] = state
    out["intervaltype"] = row.get("intervaltype") or "MANUAL"
    out["revertable"] = state == "BackedUp"
    return out


def snapshot_policy(row: dict[str, Any]) -> dict[str, Any]:
    out = _base(row, "paused", "tags")
    out["intervaltype"] = _INTERVALS.get(str(row["intervaltype"]).upper(), 0)
    out["fordisplay"] = True
    return out


def vm_snapshot(row: dict[str, Any]) -> dict[str, Any]:
    out = _base(row, "memory")
    out["type"] = "DiskAndMemory" if row.get("memory") else "Disk"
    out["current"] = True
    return out


def network(row: dict[str, Any]) -> dict[str, Any]:
    out = _base(row, "kind", "segment", "services", "egress_default")
    kind = row.get("kind") or "shared"
    out["type"] = {"isolated": "Isolated", "shared": "Shared", "l2": "L2"}.get(kind, kind)
    out["traffictype"] = "Guest"
    out["acltype"] = "Account" if kind == "isolated" else "Domain"
    out["canusefordeploy"] = True
    out["ispersistent"] = False
    out["restartrequired"] = False
    out["specifyipranges"] = kind != "isolated"
    out["broadcastdomaintype"] = "Vlan"
    if row.get("segment"):
        out["vlan"] = row["segment"]
        out["broadcasturi"] = f"vlan://{row['segment']}"
    out["service"] = [{"name": s} for s in row.get("services") or ()]
    out["egressdefaultpolicy"] = row.get("egress_default") == "allow"
    return out


def network_offering(row: dict[str, Any]) -> dict[str, Any]:
    out = _base(row, "services", "state", "tags")
    out.update(
        guestiptype=(row.get("guestiptype") or "Isolated").capitalize(),
        traffictype="Guest",
        state="Enabled" if row.get("state") in ("Enabled", "Active", None) else "Disabled",
        isdefault=False,
        ispersistent=False,
        specifyvlan=False,
        specifyipranges=(row.get("guestiptype") or "").lower() == "shared",
        forvpc=False,
        availability="Optional",
        conservemode=True,
        service=[{"name": s} for s in row.get("services") or ()],
    )
    return out


def public_ip(row: dict[str, Any]) -> dict[str, Any]:
    out = _base(row)
    out["forvirtualnetwork"] = True
    out["issystem"] = False
    return out


def port_forward(row: dict[str, Any]) -> dict[str, Any]:
    out = _base(row)
    for key in ("publicport", "publicendport", "privateport", "privateendport"):
        out[key] = str(out[key])
    out["state"] = "Active"
    out["cidrlist"] = ""
    out["fordisplay"] = True
    return out


def firewall_rule(row: dict[str, Any]) -> dict[str, Any]:
    out = _base(row)
    out["state"] = "Active"
    out["fordisplay"] = True
    return out


def static_nat(row: dict[str, Any]) -> dict[str, Any]:
    out = _base(row)
    out["protocol"] = "NAT"
    out["state"] = "Active"
    return out


def security_group(row: dict[str, Any]) -> dict[str, Any]:
    out = _base(row, "created")
    for key in ("ingressrule", "egressrule"):
        rules = row.get(key) or []
        out[key] = json.loads(rules) if isinstance(rules, str) else plain(rules)
    out["virtualmachinecount"] = len(row.get("virtualmachineids") or [])
    return out


def zone(row: dict[str, Any]) -> dict[str, Any]:
    out = _base(row)
    nt = (row.get("networktype") or "Advanced").capitalize()
    out["networktype"] = nt
    out["localstorageenabled"] = False
    out["securitygroupsenabled"] = bool(row.get("securitygroupsenabled"))
    return out


def pod(row: dict[str, Any]) -> dict[str, Any]:
    return _base(row)


def cluster(row: dict[str, Any]) -> dict[str, Any]:
    out = _base(row)
    out["hypervisortype"] = hypervisor(row.get("hypervisor"))
    out.pop("hypervisor", None)
    out["clustertype"] = "CloudManaged"
    out["managedstate"] = "Managed"
    return out


def host(row: dict[str, Any]) -> dict[str, Any]:
    drop = ("cpu_used_mhz", "memory_total_mb", "memory_used_mb", "cpu_reserved_mhz")
    out = _base(row, *drop, "memory_reserved_mb", "tunnel_ip", "url")
    total = (row.get("cpu_cores") or row.get("cpunumber") or 0) * (row.get("cpuspeed") or 0)
    used = row.get("cpu_reserved_mhz") or 0
    out.update(
        type="Routing",
        hypervisor=hypervisor(row.get("hypervisor")),
        memorytotal=(row.get("memory_total_mb") or 0) * MiB,
        memoryused=(row.get("memory_used_mb") or 0) * MiB,
        memoryallocated=(row.get("memory_reserved_mb") or 0) * MiB,
        cpuallocated=f"{100 * used / total:.2f}%" if total else "0%",
        cpuused=f"{100 * (row.get('cpu_used_mhz') or 0) / total:.2f}%" if total else "0%",
        ipaddress=str(row["tunnel_ip"]) if row.get("tunnel_ip") else "",
        islocalstorageactive=False,
        version="4.20.0.0",
    )
    return out


def storage_pool(row: dict[str, Any]) -> dict[str, Any]:
    out = _base(row, "driver", "url", "tagsstr", "scope")
    out.update(
        type="Filesystem" if row.get("driver") != "simulator" else "Simulator",
        path=row.get("url") or "",
        scope=(row.get("scope") or "cluster").upper(),
        provider="DefaultPrimary",
        hypervisor="KVM",
    )
    if row.get("tagsstr"):
        out["tags"] = row["tagsstr"]
    else:
        out.pop("tags", None)
    return out


def event(row: dict[str, Any]) -> dict[str, Any]:
    payload = row.get("payload") or {}
    if isinstance(payload, str):
        payload = json.loads(payload)
    kind = row["type"].removeprefix("strato.")
    what = row.get("resource_type") or ""
    change = ""
    if row.get("new_state"):
        change = f": {row.get('old_state') or 'none'} -> {row['new_state']}"
    out = {
        "id": str(uuid5(_NS, f"event:{row['seq_id']}")),
        "type": kind.upper().replace(".", "."),
        "level": "ERROR" if payload.get("error") else "INFO",
        "description": f"{kind} {what} {row.get('resource_id') or ''}{change}".strip(),
        "state": "Completed",
        "created": plain(row["created"]),
        "resourceid": plain(row.get("resource_id")),
        "resourcetype": what,
    }
    for key in ("account", "domainid", "domain"):
        if row.get(key) is not None:
            out[key] = plain(row[key])
    return {k: v for k, v in out.items() if v is not None}


RENDERERS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "virtualmachine": virtual_machine,
    "serviceoffering": service_offering,
    "diskoffering": disk_offering,
    "template": template,
    "iso": template,
    "sshkeypair": ssh_key_pair,
    "keypair": ssh_key_pair,
    "volume": volume,
    "snapshot": snapshot,
    "snapshotpolicy": snapshot_policy,
    "vmSnapshot": vm_snapshot,
    "network": network,
    "networkoffering": network_offering,
    "ipaddress": public_ip,
    "publicipaddress": public_ip,
    "portforwardingrule": port_forward,
    "firewallrule": firewall_rule,
    "ipforwardingrule": static_nat,
    "securitygroup": security_group,
    "zone": zone,
    "pod": pod,
    "cluster": cluster,
    "host": host,
    "storagepool": storage_pool,
    "event": event,
}
