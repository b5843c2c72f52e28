-- The rules of a public IP (CloudStack's firewall_rules, with its purposes): port
-- forwarding to a guest's address, ingress firewall rules, and static NAT (one public IP
-- for one VM). A network's router applies all of them as one ruleset.
CREATE TABLE port_forwarding_rules (
    id            uuid PRIMARY KEY,
    public_ip_id  uuid NOT NULL REFERENCES public_ips (id) ON DELETE RESTRICT,
    network_id    uuid NOT NULL REFERENCES networks (id) ON DELETE RESTRICT,
    vm_id         uuid NOT NULL REFERENCES vms (id) ON DELETE RESTRICT,
    protocol      text NOT NULL CHECK (protocol IN ('tcp', 'udp')),
    public_start  integer NOT NULL CHECK (public_start BETWEEN 1 AND 65535),
    public_end    integer NOT NULL CHECK (public_end BETWEEN 1 AND 65535),
    private_ip    inet NOT NULL,
    private_start integer NOT NULL CHECK (private_start BETWEEN 1 AND 65535),
    private_end   integer NOT NULL CHECK (private_end BETWEEN 1 AND 65535),
    version       integer NOT NULL DEFAULT 1,
    created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    CHECK (public_start <= public_end AND private_end - private_start = public_end - public_start)
);
CREATE INDEX port_forwarding_rules_ip_idx ON port_forwarding_rules (public_ip_id);

CREATE TABLE firewall_rules (
    id           uuid PRIMARY KEY,
    public_ip_id uuid NOT NULL REFERENCES public_ips (id) ON DELETE RESTRICT,
    protocol     text NOT NULL CHECK (protocol IN ('tcp', 'udp', 'icmp', 'all')),
    start_port   integer CHECK (start_port BETWEEN 1 AND 65535),
    end_port     integer CHECK (end_port BETWEEN 1 AND 65535),
    cidrs        cidr[] NOT NULL DEFAULT '{0.0.0.0/0}' CHECK (cardinality(cidrs) > 0),
    version      integer NOT NULL DEFAULT 1,
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    CHECK ((protocol IN ('tcp', 'udp')) = (start_port IS NOT NULL AND end_port IS NOT NULL)),
    CHECK (start_port IS NULL OR start_port <= end_port)
);
CREATE INDEX firewall_rules_ip_idx ON firewall_rules (public_ip_id);

ALTER TABLE public_ips ADD COLUMN static_nat_vm_id uuid REFERENCES vms (id) ON DELETE RESTRICT;
ALTER TABLE public_ips ADD COLUMN static_nat_ip inet;
CREATE UNIQUE INDEX public_ips_static_nat_vm_idx ON public_ips (static_nat_vm_id)
    WHERE static_nat_vm_id IS NOT NULL;
