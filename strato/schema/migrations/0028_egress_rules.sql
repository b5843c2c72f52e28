-- Egress firewall rules of a guest network (CloudStack's createEgressFirewallRule): new
-- connections from its guests out through its router. ``egress_default`` is the policy
-- the rules are exceptions to: 'allow' (the rules block) or 'deny' (the rules allow).
ALTER TABLE networks ADD COLUMN egress_default text NOT NULL DEFAULT 'allow'
    CHECK (egress_default IN ('allow', 'deny'));

CREATE TABLE egress_rules (
    id          uuid PRIMARY KEY,
    network_id  uuid NOT NULL REFERENCES networks (id) ON DELETE CASCADE,
    protocol    text NOT NULL CHECK (protocol IN ('tcp', 'udp', 'icmp', 'all')),
    start_port  integer CHECK (start_port BETWEEN 1 AND 65535),
    end_port    integer CHECK (end_port BETWEEN 1 AND 65535),
    cidrs       cidr[] NOT NULL DEFAULT '{0.0.0.0/0}' CHECK (cardinality(cidrs) > 0),
    version     integer NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    CHECK ((protocol IN ('tcp', 'udp')) = (start_port IS NOT NULL AND end_port IS NOT NULL)),
    CHECK (start_port IS NULL OR start_port <= end_port)
);
CREATE INDEX egress_rules_network_idx ON egress_rules (network_id);
