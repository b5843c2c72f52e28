"""The storage and network rows CloudStack's list commands show (see views.py)."""

from __future__ import annotations

from strato.services.cloudstack_api.schema.views import View

VOLUMES = View(
    "volumes",
    """t.id, t.name, t.kind AS type, t.zone_id AS zoneid, z.name AS zonename,
       t.vm_id AS virtualmachineid, v.name AS vmname,
       coalesce(nullif(v.display_name, ''), v.name) AS vmdisplayname, v.state AS vmstate,
       t.device_id AS deviceid, t.size_bytes AS size, t.state, t.format,
       t.pool_id AS storageid, sp.name AS storage, sp.scope AS poolscope,
       t.disk_offering_id AS diskofferingid, dof.name AS diskofferingname,
       dof.display_text AS diskofferingdisplaytext, t.template_id AS templateid,
       t.created_at AS created, t.destroyed_at IS NOT NULL AS destroyed,
       t.copied_from_snapshot AS snapshotid,
       CASE WHEN t.vm_id IS NOT NULL THEN t.updated_at END AS attached""",
    """LEFT JOIN zones z ON z.id = t.zone_id
       LEFT JOIN vms v ON v.id = t.vm_id
       LEFT JOIN storage_pools sp ON sp.id = t.pool_id
       LEFT JOIN disk_offerings dof ON dof.id = t.disk_offering_id""",
    where="t.state NOT IN ('Expunged')",
)

SNAPSHOTS = View(
    "snapshots",
    """t.id, t.name, t.volume_id AS volumeid, vol.name AS volumename,
       vol.kind AS volumetype, t.kind AS snapshottype, sp.interval_type AS intervaltype,
       t.state, t.zone_id AS zoneid, t.size_bytes AS virtualsize,
       coalesce(t.backup_bytes, t.size_bytes) AS physicalsize, t.created_at AS created,
       t.last_error""",
    """LEFT JOIN volumes vol ON vol.id = t.volume_id
       LEFT JOIN snapshot_policies sp ON sp.id = t.policy_id""",
    where="t.state NOT IN ('Destroyed')",
)

SNAPSHOT_POLICIES = View(
    "snapshot_policies",
    """t.id, t.volume_id AS volumeid, t.interval_type AS intervaltype, t.schedule,
       t.timezone, t.max_snaps AS maxsnaps, t.paused""",
    owner="(SELECT o.owner FROM volumes o WHERE o.id = t.volume_id)",
    name=None,
    keyword=None,
)

NETWORKS = View(
    "networks",
    """t.id, t.name, t.name AS displaytext, t.zone_id AS zoneid, z.name AS zonename,
       t.kind, host(t.cidr) || '/' || masklen(t.cidr) AS cidr, host(t.gateway) AS gateway,
       host(netmask(t.cidr)) AS netmask, t.state, t.segment, t.is_default AS isdefault,
       t.offering_id AS networkofferingid, nof.name AS networkofferingname,
       nof.display_text AS networkofferingdisplaytext, nof.services,
       z.dns1 AS dns1, t.created_at AS created, t.egress_default""",
    """LEFT JOIN zones z ON z.id = t.zone_id
       LEFT JOIN network_offerings nof ON nof.id = t.offering_id""",
    where="t.state NOT IN ('Destroyed')",
)

NETWORK_OFFERINGS = View(
    "network_offerings",
    """t.id, t.name, coalesce(nullif(t.display_text, ''), t.name) AS displaytext,
       t.guest_type AS guestiptype, t.services, t.state, t.created_at AS created""",
    owner=None,
)

PUBLIC_IPS = View(
    "public_ips",
    """t.id, host(t.address) AS ipaddress, t.state, t.zone_id AS zoneid,
       z.name AS zonename, t.network_id AS associatednetworkid,
       nw.name AS associatednetworkname, t.source_nat AS issourcenat,
       t.static_nat_vm_id IS NOT NULL AS isstaticnat, t.static_nat_vm_id AS virtualmachineid,
       v.name AS virtualmachinename, host(t.static_nat_ip) AS vmipaddress,
       t.allocated_at AS allocated, t.range_id AS vlanid""",
    """LEFT JOIN zones z ON z.id = t.zone_id
       LEFT JOIN networks nw ON nw.id = t.network_id
       LEFT JOIN vms v ON v.id = t.static_nat_vm_id""",
    name="host(t.address)",
    keyword="host(t.address)",
    where="t.state <> 'Free'",
    order="t.allocated_at, t.id",
)

_IP_OWNER = "(SELECT o.owner FROM public_ips o WHERE o.id = t.public_ip_id)"

PORT_FORWARDS = View(
    "port_forwarding_rules",
    """t.id, t.protocol, t.public_start AS publicport, t.public_end AS publicendport,
       t.private_start AS privateport, t.private_end AS privateendport,
       t.vm_id AS virtualmachineid, v.name AS virtualmachinename,
       coalesce(nullif(v.display_name, ''), v.name) AS virtualmachinedisplayname,
       t.public_ip_id AS ipaddressid, host(p.address) AS ipaddress,
       host(t.private_ip) AS vmguestip, t.network_id AS networkid""",
    """LEFT JOIN vms v ON v.id = t.vm_id
       LEFT JOIN public_ips p ON p.id = t.public_ip_id""",
    owner=_IP_OWNER,
    name=None,
    keyword=None,
)

FIREWALL_RULES = View(
    "firewall_rules",
    """t.id, t.protocol, t.start_port AS startport, t.end_port AS endport,
       array_to_string(t.cidrs, ',') AS cidrlist, t.public_ip_id AS ipaddressid,
       host(p.address) AS ipaddress, p.network_id AS networkid""",
    "LEFT JOIN public_ips p ON p.id = t.public_ip_id",
    owner=_IP_OWNER,
    name=None,
    keyword=None,
)

EGRESS_RULES = View(
    "egress_rules",
    """t.id, t.protocol, t.start_port AS startport, t.end_port AS endport,
       array_to_string(t.cidrs, ',') AS cidrlist, t.network_id AS networkid""",
    owner="(SELECT o.owner FROM networks o WHERE o.id = t.network_id)",
    name=None,
    keyword=None,
)

STATIC_NATS = View(
    "public_ips",
    """t.id, host(t.address) AS ipaddress, t.id AS ipaddressid,
       t.static_nat_vm_id AS virtualmachineid, v.name AS virtualmachinename,
       coalesce(nullif(v.display_name, ''), v.name) AS virtualmachinedisplayname,
       host(t.static_nat_ip) AS vmguestip, t.zone_id AS zoneid""",
    "LEFT JOIN vms v ON v.id = t.static_nat_vm_id",
    name=None,
    keyword=None,
    where="t.static_nat_vm_id IS NOT NULL",
    order="t.allocated_at, t.id",
)

_RULES = """(SELECT coalesce(json_agg(json_build_object('ruleid', r.id, 'protocol', r.protocol,
               'startport', r.start_port, 'endport', r.end_port,
               'cidr', CASE WHEN r.cidr IS NULL THEN NULL
                            ELSE host(r.cidr) || '/' || masklen(r.cidr) END,
               'securitygroupname', rg.name) ORDER BY r.created_at), '[]')
            FROM security_group_rules r LEFT JOIN security_groups rg ON rg.id = r.remote_group_id
           WHERE r.security_group_id = t.id AND r.direction = '{direction}') AS {name}"""

SECURITY_GROUPS = View(
    "security_groups",
    f"""t.id, t.name, t.description, t.created_at AS created,
        {_RULES.format(direction="ingress", name="ingressrule")},
        {_RULES.format(direction="egress", name="egressrule")},
        (SELECT array_agg(vs.vm_id) FROM vm_security_groups vs
          WHERE vs.security_group_id = t.id) AS virtualmachineids""",
)
