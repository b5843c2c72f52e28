-- Security groups (CloudStack's, per owner): ingress and egress rules by protocol, port
-- range and CIDR or another group; VMs are members. Enforced on each host for every NIC
-- on a network whose offering has the SecurityGroup service.
CREATE TABLE security_groups (
    id          uuid PRIMARY KEY,
    owner       text NOT NULL DEFAULT '',
    name        text NOT NULL,
    description text NOT NULL DEFAULT '',
    version     integer NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (owner, name)
);

CREATE TABLE security_group_rules (
    id                uuid PRIMARY KEY,
    security_group_id uuid NOT NULL REFERENCES security_groups (id) ON DELETE CASCADE,
    direction         text NOT NULL CHECK (direction IN ('ingress', 'egress')),
    protocol          text NOT NULL CHECK (protocol IN ('tcp', 'udp', 'icmp', 'all')),
    start_port        integer CHECK (start_port BETWEEN 1 AND 65535),
    end_port          integer CHECK (end_port BETWEEN 1 AND 65535),
    cidr              cidr,
    remote_group_id   uuid REFERENCES security_groups (id) ON DELETE RESTRICT,
    version           integer NOT NULL DEFAULT 1,
    created_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    CHECK ((cidr IS NULL) <> (remote_group_id IS NULL)),
    CHECK ((protocol IN ('tcp', 'udp')) = (start_port IS NOT NULL AND end_port IS NOT NULL)),
    CHECK (start_port IS NULL OR start_port <= end_port)
);
CREATE INDEX security_group_rules_group_idx ON security_group_rules (security_group_id);
CREATE INDEX security_group_rules_remote_idx ON security_group_rules (remote_group_id)
    WHERE remote_group_id IS NOT NULL;

CREATE TABLE vm_security_groups (
    vm_id             uuid NOT NULL REFERENCES vms (id) ON DELETE CASCADE,
    security_group_id uuid NOT NULL REFERENCES security_groups (id) ON DELETE RESTRICT,
    PRIMARY KEY (vm_id, security_group_id)
);
CREATE INDEX vm_security_groups_group_idx ON vm_security_groups (security_group_id);
