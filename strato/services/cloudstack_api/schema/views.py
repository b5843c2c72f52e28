"""The rows CloudStack's list commands show, read with everything a response names
(zone, offering, template and account names; a VM's NICs, groups and key pairs) in one
query per page. Each column is named as CloudStack's response field is; the page is
cut before the joins run, so a page costs the same at 100 or 100,000 rows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

ACCOUNT = """LEFT JOIN acl_accounts acc ON acc.id::text = {owner}
             LEFT JOIN acl_domains dom ON dom.id = acc.domain_id"""
ACCOUNT_COLUMNS = """{owner} AS owner, acc.id AS accountid, acc.name AS account,
                     dom.id AS domainid, dom.name AS domain, dom.path AS domainpath"""
TAGS = """(SELECT coalesce(json_agg(json_build_object('key', g.key, 'value', g.value,
                   'resourcetype', g.resource_type, 'resourceid', g.resource_id)
                   ORDER BY g.key), '[]') FROM cloudstack_tags g
            WHERE g.resource_id = t.id) AS tags"""


@dataclass(frozen=True)
class View:
    table: str
    columns: str
    joins: str = ""
    owner: str | None = "t.owner"
    name: str | None = "t.name"
    keyword: str | None = "t.name"
    where: str = "true"
    order: str = "t.created_at, t.id"
    tagged: bool = True  # its rows may carry tags (their id is a uuid)
    key: str = "id"  # the column that names a row

    def select(self) -> tuple[str, str]:
        """The page query's columns and joins (the owner's account and domain, tags)."""
        owned = self.owner or "''"
        joins = self.joins + "\n" + ACCOUNT.format(owner=owned)
        tags = TAGS if self.tagged else "'[]'::json AS tags"
        return f"{self.columns}, {ACCOUNT_COLUMNS.format(owner=owned)}, {tags}", joins


Filter = tuple[str, Any]  # a condition with one "{}" for its value, and the value

# Conditions the list commands use beyond a column's value.
VM_ON_NETWORK = "EXISTS (SELECT 1 FROM nics n WHERE n.vm_id = t.id AND n.network_id = {})"
VM_WITH_KEY_PAIR = (
    "EXISTS (SELECT 1 FROM ssh_key_pairs k WHERE k.owner = t.owner AND k.name = {}"
    " AND k.public_key = ANY(t.ssh_keys))"
)
GROUP_OF_VM = (
    "EXISTS (SELECT 1 FROM vm_security_groups vs WHERE vs.security_group_id = t.id"
    " AND vs.vm_id = {})"
)


def account_named(owner: str) -> str:
    """Rows of the account with this name (the value)."""
    return f"{owner} IN (SELECT a.id::text FROM acl_accounts a WHERE a.name = {{}})"


def in_domain(owner: str, recursive: bool) -> str:
    """Rows of the accounts of a domain (the value), and of its subdomains."""
    sub = " OR d.path LIKE (SELECT p.path FROM acl_domains p WHERE p.id = {0}) || '/%'"
    return (
        f"{owner} IN (SELECT a.id::text FROM acl_accounts a JOIN acl_domains d"
        f" ON d.id = a.domain_id WHERE d.id = {{0}}{sub if recursive else ''})"
    )


async def listing(
    conn: Any,
    view: View,
    *,
    owners: list[str] | None,
    filters: list[Filter],
    offset: int,
    limit: int,
    ids: list[UUID] | None = None,
    name: str | None = None,
    keyword: str | None = None,
    tags: list[dict[str, str]] | None = None,
) -> tuple[int, list[dict[str, Any]]]:
    """``(count of every matching row, the rows of one page)``."""
    if not view.tagged and (ids or tags):
        return 0, []  # its rows have no uuid ids and no tags
    args: list[Any] = []

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    where = [view.where]
    if owners is not None and view.owner is not None:
        where.append(f"coalesce({view.owner}, '') = ANY({arg(owners)}::text[])")
    if ids:
        where.append(f"t.id = ANY({arg(ids)}::uuid[])")
    if name is not None and view.name is not None:
        where.append(f"{view.name} = {arg(name)}")
    if keyword and view.keyword is not None:
        escaped = keyword.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        where.append(f"{view.keyword} ILIKE {arg('%' + escaped + '%')}")
    for condition, value in filters:
        where.append(condition.format(arg(value)))
    for tag in tags or ():
        k, v = arg(tag.get("key")), arg(tag.get("value"))
        where.append(
            f"EXISTS (SELECT 1 FROM cloudstack_tags g WHERE g.resource_id = t.id"
            f" AND g.key = {k} AND ({v}::text IS NULL OR g.value = {v}))"
        )
    clause = " AND ".join(f"({w})" for w in where)
    count = await conn.fetchval(f"SELECT count(*) FROM {view.table} t WHERE {clause}", *args)
    if not count or offset >= count:
        return count or 0, []
    columns, joins = view.select()
    page = f"{arg(offset)}", f"{arg(limit)}"
    # The page's ids first (an index-only scan where the view's order has an index),
    # then its rows and their joins: 500 rows cost the same at any depth.
    rows = await conn.fetch(
        f"""WITH page AS (SELECT t.{view.key} FROM {view.table} t WHERE {clause}
                           ORDER BY {view.order} OFFSET {page[0]} LIMIT {page[1]})
            SELECT {columns} FROM {view.table} t JOIN page USING ({view.key}) {joins}
             ORDER BY {view.order}""",
        *args,
    )
    return count, [dict(r) for r in rows]


# -- compute ---------------------------------------------------------------------

NICS = """(SELECT coalesce(json_agg(json_build_object(
              'id', n.id, 'networkid', n.network_id, 'networkname', nw.name,
              'ipaddress', host(n.ip_address), 'macaddress', n.mac,
              'isdefault', n.is_default, 'deviceid', n.device_id::text,
              'gateway', host(nw.gateway), 'netmask', host(netmask(nw.cidr)),
              'traffictype', 'Guest', 'type', initcap(nw.kind),
              'broadcasturi', CASE WHEN nw.segment IS NULL THEN NULL
                                   ELSE 'vlan://' || nw.segment END)
              ORDER BY n.device_id), '[]')
           FROM nics n JOIN networks nw ON nw.id = n.network_id WHERE n.vm_id = t.id) AS nic"""
GROUPS = """(SELECT coalesce(json_agg(json_build_object('id', sg.id, 'name', sg.name,
              'description', sg.description) ORDER BY sg.name), '[]')
           FROM vm_security_groups vs JOIN security_groups sg ON sg.id = vs.security_group_id
          WHERE vs.vm_id = t.id) AS securitygroup"""
AFFINITY = """(SELECT coalesce(json_agg(json_build_object('id', ag.id, 'name', ag.name,
              'type', ag.kind) ORDER BY ag.name), '[]')
           FROM vm_affinity_groups va JOIN affinity_groups ag ON ag.id = va.group_id
          WHERE va.vm_id = t.id) AS affinitygroup"""

VMS = View(
    "vms",
    f"""t.id, t.name, coalesce(nullif(t.display_name, ''), t.name) AS displayname,
        t.state, t.current_operation_kind, t.created_at AS created,
        t.zone_id AS zoneid, z.name AS zonename, t.host_id AS hostid, h.name AS hostname,
        coalesce(h.hypervisor, 'kvm') AS hypervisor,
        t.service_offering_id AS serviceofferingid, so.name AS serviceofferingname,
        so.ha AS haenable, t.template_id AS templateid, tp.name AS templatename,
        tp.display_text AS templatedisplaytext, t.iso_id AS isoid,
        t.cpu_count AS cpunumber, t.cpu_speed_mhz AS cpuspeed, t.memory_mb AS memory,
        t.root_volume_id, t.user_data IS NOT NULL AS hasuserdata,
        CASE WHEN cardinality(t.ssh_keys) > 0 THEN
            (SELECT array_agg(k.name ORDER BY k.name) FROM ssh_key_pairs k
              WHERE k.owner = t.owner AND k.public_key = ANY(t.ssh_keys)) END AS keypairs,
        nat.id AS publicipid, host(nat.address) AS publicip,
        {NICS}, {GROUPS}, {AFFINITY}""",
    """LEFT JOIN zones z ON z.id = t.zone_id
       LEFT JOIN hosts h ON h.id = t.host_id
       LEFT JOIN service_offerings so ON so.id = t.service_offering_id
       LEFT JOIN templates tp ON tp.id = t.template_id
       LEFT JOIN LATERAL (SELECT p.id, p.address FROM public_ips p
                           WHERE p.static_nat_vm_id = t.id LIMIT 1) nat ON true""",
    keyword="t.name || ' ' || coalesce(t.display_name, '')",
    where="t.state <> 'Expunged'",
)

SERVICE_OFFERINGS = View(
    "service_offerings",
    """t.id, t.name, coalesce(nullif(t.display_text, ''), t.name) AS displaytext,
       t.cpu_count AS cpunumber, t.cpu_speed_mhz AS cpuspeed, t.memory_mb AS memory,
       t.ha AS offerha, array_to_string(t.host_tags, ',') AS hosttags,
       array_to_string(t.storage_tags, ',') AS storagetags, t.created_at AS created,
       t.state""",
    owner=None,
    where="t.state = 'Active'",
)

DISK_OFFERINGS = View(
    "disk_offerings",
    """t.id, t.name, coalesce(nullif(t.display_text, ''), t.name) AS displaytext,
       t.size_gb AS disksize, t.custom_size AS iscustomized,
       t.provisioning AS provisioningtype, array_to_string(t.storage_tags, ',') AS tagsstr,
       t.created_at AS created""",
    owner=None,
    where="t.state = 'Active'",
)

TEMPLATES = View(
    "templates",
    """t.id, t.name, coalesce(nullif(t.display_text, ''), t.name) AS displaytext,
       t.zone_id AS zoneid, z.name AS zonename, t.format, t.os_type AS ostypename,
       t.size_bytes AS size, t.physical_size_bytes AS physicalsize, t.is_public AS ispublic,
       t.featured AS isfeatured, t.state, t.created_at AS created, t.url, t.checksum,
       t.last_error""",
    "LEFT JOIN zones z ON z.id = t.zone_id",
    owner=None,
    where="t.state NOT IN ('Deleting', 'Inactive')",
)

SSH_KEY_PAIRS = View(
    "ssh_key_pairs",
    "t.id, t.name, t.fingerprint, t.created_at AS created",
)

VM_SNAPSHOTS = View(
    "vm_snapshots",
    """t.id, t.name, t.name AS displayname, t.description, t.state, t.memory,
       t.vm_id AS virtualmachineid, v.name AS virtualmachinename, v.zone_id AS zoneid,
       t.created_at AS created""",
    "JOIN vms v ON v.id = t.vm_id",
    owner="(SELECT o.owner FROM vms o WHERE o.id = t.vm_id)",
    where="t.state NOT IN ('Removed')",
)
