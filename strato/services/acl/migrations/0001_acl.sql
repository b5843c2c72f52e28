-- The ACL service's own tables (migration track "acl", numbered apart from the core's).
--
-- Domains are a tree named by path from ROOT ("ROOT/sales/emea"); an account lives in a
-- domain and has one role; users log in to an account. An account's id is the owner
-- string of its resources in the core's tables. API key pairs belong to users: the
-- secret is sealed (AES-GCM) with the service's key, since a signature check needs it.
-- Limits are per account or per domain and resource; usage is counted from the core's
-- live rows at claim time (strato.schema.holdings), never kept in a counter.

CREATE TABLE acl_domains (
    id          uuid PRIMARY KEY,
    name        text NOT NULL,
    parent_id   uuid REFERENCES acl_domains (id) ON DELETE RESTRICT,
    path        text NOT NULL UNIQUE,
    state       text NOT NULL DEFAULT 'Enabled' CHECK (state IN ('Enabled', 'Disabled')),
    ldap        jsonb,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    version     int NOT NULL DEFAULT 1,
    CHECK ((parent_id IS NULL) = (path = 'ROOT'))
);
CREATE UNIQUE INDEX acl_domains_name_idx ON acl_domains (parent_id, lower(name));

CREATE TABLE acl_roles (
    id          uuid PRIMARY KEY,
    name        text NOT NULL,
    type        text NOT NULL CHECK (type IN ('Admin', 'DomainAdmin', 'User')),
    description text NOT NULL DEFAULT '',
    builtin     boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    version     int NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX acl_roles_name_idx ON acl_roles (lower(name));

CREATE TABLE acl_role_rules (
    role_id     uuid NOT NULL REFERENCES acl_roles (id) ON DELETE CASCADE,
    position    int NOT NULL,
    rule        text NOT NULL,
    permission  text NOT NULL CHECK (permission IN ('allow', 'deny')),
    description text NOT NULL DEFAULT '',
    PRIMARY KEY (role_id, position)
);

CREATE TABLE acl_accounts (
    id          uuid PRIMARY KEY,
    domain_id   uuid NOT NULL REFERENCES acl_domains (id) ON DELETE RESTRICT,
    name        text NOT NULL,
    role_id     uuid NOT NULL REFERENCES acl_roles (id) ON DELETE RESTRICT,
    state       text NOT NULL DEFAULT 'Enabled' CHECK (state IN ('Enabled', 'Disabled', 'Locked')),
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    version     int NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX acl_accounts_name_idx ON acl_accounts (domain_id, lower(name));

CREATE TABLE acl_users (
    id            uuid PRIMARY KEY,
    account_id    uuid NOT NULL REFERENCES acl_accounts (id) ON DELETE RESTRICT,
    domain_id     uuid NOT NULL REFERENCES acl_domains (id) ON DELETE RESTRICT,
    username      text NOT NULL,
    password_hash text,
    source        text NOT NULL DEFAULT 'local' CHECK (source IN ('local', 'ldap')),
    state         text NOT NULL DEFAULT 'Enabled' CHECK (state IN ('Enabled', 'Disabled', 'Locked')),
    failed_logins int NOT NULL DEFAULT 0,
    email         text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    version       int NOT NULL DEFAULT 1
);
-- CloudStack's rule: a username is unique within its domain.
CREATE UNIQUE INDEX acl_users_name_idx ON acl_users (domain_id, lower(username));

CREATE TABLE acl_api_keys (
    id            uuid PRIMARY KEY,
    user_id       uuid NOT NULL REFERENCES acl_users (id) ON DELETE CASCADE,
    name          text NOT NULL DEFAULT '',
    access_key    text NOT NULL UNIQUE,
    secret_sealed bytea NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    revoked_at    timestamptz
);
CREATE INDEX acl_api_keys_user_idx ON acl_api_keys (user_id);

CREATE TABLE acl_sessions (
    token_hash  bytea PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES acl_users (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    expires_at  timestamptz NOT NULL
);
CREATE INDEX acl_sessions_user_idx ON acl_sessions (user_id);

CREATE TABLE acl_limits (
    target_id   uuid NOT NULL,
    target_type text NOT NULL CHECK (target_type IN ('account', 'domain')),
    resource    text NOT NULL,
    max         bigint NOT NULL CHECK (max >= -1),
    updated_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (target_id, resource)
);

INSERT INTO acl_domains (id, name, parent_id, path)
VALUES ('00000000-0000-4000-8000-00000000ac10', 'ROOT', NULL, 'ROOT');

INSERT INTO acl_roles (id, name, type, description, builtin) VALUES
    ('00000000-0000-4000-8000-00000000ac01', 'Root Admin', 'Admin', 'Everything, in every domain', true),
    ('00000000-0000-4000-8000-00000000ac02', 'Domain Admin', 'DomainAdmin',
     'Its domain and sub-domains: their accounts, users and resources', true),
    ('00000000-0000-4000-8000-00000000ac03', 'User', 'User', 'Its own account''s resources', true),
    ('00000000-0000-4000-8000-00000000ac04', 'Read-Only User', 'User', 'Reads its own account''s resources', true);

INSERT INTO acl_role_rules (role_id, position, rule, permission, description) VALUES
    ('00000000-0000-4000-8000-00000000ac01', 1, '*', 'allow', 'everything'),
    ('00000000-0000-4000-8000-00000000ac02', 1, 'vm.migrate', 'deny', 'moving VMs between hosts is the cloud''s'),
    ('00000000-0000-4000-8000-00000000ac02', 2, 'volume.migrate', 'deny', 'moving volumes between pools is the cloud''s'),
    ('00000000-0000-4000-8000-00000000ac02', 3, 'vm.*', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac02', 4, 'volume.*', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac02', 5, 'snapshot.*', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac02', 6, 'vm_snapshot.*', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac02', 7, 'backup.*', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac02', 8, 'backup_schedule.*', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac02', 9, 'snapshot_policy.*', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac02', 10, 'network.*', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac02', 11, 'public_ip.*', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac02', 12, 'port_forwarding_rule.*', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac02', 13, 'firewall_rule.*', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac02', 14, 'egress_rule.*', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac02', 15, 'security_group.*', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac02', 16, 'security_group_rule.*', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac02', 17, 'affinity_group.*', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac02', 18, 'ssh_key_pair.*', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac02', 19, 'zone.list', 'allow', 'the catalog'),
    ('00000000-0000-4000-8000-00000000ac02', 20, 'zone.get', 'allow', 'the catalog'),
    ('00000000-0000-4000-8000-00000000ac02', 21, 'service_offering.list', 'allow', 'the catalog'),
    ('00000000-0000-4000-8000-00000000ac02', 22, 'service_offering.get', 'allow', 'the catalog'),
    ('00000000-0000-4000-8000-00000000ac02', 23, 'disk_offering.list', 'allow', 'the catalog'),
    ('00000000-0000-4000-8000-00000000ac02', 24, 'disk_offering.get', 'allow', 'the catalog'),
    ('00000000-0000-4000-8000-00000000ac02', 25, 'network_offering.list', 'allow', 'the catalog'),
    ('00000000-0000-4000-8000-00000000ac02', 26, 'network_offering.get', 'allow', 'the catalog'),
    ('00000000-0000-4000-8000-00000000ac02', 27, 'backup_offering.list', 'allow', 'the catalog'),
    ('00000000-0000-4000-8000-00000000ac02', 28, 'backup_offering.get', 'allow', 'the catalog'),
    ('00000000-0000-4000-8000-00000000ac02', 29, 'template.list', 'allow', 'the catalog'),
    ('00000000-0000-4000-8000-00000000ac02', 30, 'template.get', 'allow', 'the catalog'),
    ('00000000-0000-4000-8000-00000000ac02', 31, 'event.list', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac02', 32, 'event.*.list', 'allow', 'the stream and the type catalog'),
    ('00000000-0000-4000-8000-00000000ac02', 33, 'operation.list', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac02', 34, 'operation.get', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac02', 35, 'health.list', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac02', 36, 'acl.*', 'allow', 'its own users, keys and limits (scoped by the ACL service)'),
    ('00000000-0000-4000-8000-00000000ac02', 37, 'usage_record.*', 'allow', 'its own usage records'),
    ('00000000-0000-4000-8000-00000000ac03', 1, 'vm.migrate', 'deny', 'moving VMs between hosts is the cloud''s'),
    ('00000000-0000-4000-8000-00000000ac03', 2, 'volume.migrate', 'deny', 'moving volumes between pools is the cloud''s'),
    ('00000000-0000-4000-8000-00000000ac03', 3, 'vm.*', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac03', 4, 'volume.*', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac03', 5, 'snapshot.*', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac03', 6, 'vm_snapshot.*', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac03', 7, 'backup.*', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac03', 8, 'backup_schedule.*', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac03', 9, 'snapshot_policy.*', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac03', 10, 'network.*', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac03', 11, 'public_ip.*', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac03', 12, 'port_forwarding_rule.*', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac03', 13, 'firewall_rule.*', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac03', 14, 'egress_rule.*', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac03', 15, 'security_group.*', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac03', 16, 'security_group_rule.*', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac03', 17, 'affinity_group.*', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac03', 18, 'ssh_key_pair.*', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac03', 19, 'zone.list', 'allow', 'the catalog'),
    ('00000000-0000-4000-8000-00000000ac03', 20, 'zone.get', 'allow', 'the catalog'),
    ('00000000-0000-4000-8000-00000000ac03', 21, 'service_offering.list', 'allow', 'the catalog'),
    ('00000000-0000-4000-8000-00000000ac03', 22, 'service_offering.get', 'allow', 'the catalog'),
    ('00000000-0000-4000-8000-00000000ac03', 23, 'disk_offering.list', 'allow', 'the catalog'),
    ('00000000-0000-4000-8000-00000000ac03', 24, 'disk_offering.get', 'allow', 'the catalog'),
    ('00000000-0000-4000-8000-00000000ac03', 25, 'network_offering.list', 'allow', 'the catalog'),
    ('00000000-0000-4000-8000-00000000ac03', 26, 'network_offering.get', 'allow', 'the catalog'),
    ('00000000-0000-4000-8000-00000000ac03', 27, 'backup_offering.list', 'allow', 'the catalog'),
    ('00000000-0000-4000-8000-00000000ac03', 28, 'backup_offering.get', 'allow', 'the catalog'),
    ('00000000-0000-4000-8000-00000000ac03', 29, 'template.list', 'allow', 'the catalog'),
    ('00000000-0000-4000-8000-00000000ac03', 30, 'template.get', 'allow', 'the catalog'),
    ('00000000-0000-4000-8000-00000000ac03', 31, 'event.list', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac03', 32, 'event.*.list', 'allow', 'the stream and the type catalog'),
    ('00000000-0000-4000-8000-00000000ac03', 33, 'operation.list', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac03', 34, 'operation.get', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac03', 35, 'health.list', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac03', 36, 'acl.*', 'allow', 'its own users, keys and limits (scoped by the ACL service)'),
    ('00000000-0000-4000-8000-00000000ac03', 37, 'usage_record.*', 'allow', 'its own usage records'),
    ('00000000-0000-4000-8000-00000000ac04', 1, 'vm.list', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac04', 2, 'vm.get', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac04', 3, 'vm.*.list', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac04', 4, 'vm.*.get', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac04', 5, 'volume.list', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac04', 6, 'volume.get', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac04', 7, 'volume.*.list', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac04', 8, 'volume.*.get', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac04', 9, 'snapshot.list', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac04', 10, 'snapshot.get', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac04', 11, 'snapshot.*.list', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac04', 12, 'snapshot.*.get', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac04', 13, 'vm_snapshot.list', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac04', 14, 'vm_snapshot.get', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac04', 15, 'vm_snapshot.*.list', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac04', 16, 'vm_snapshot.*.get', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac04', 17, 'backup.list', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac04', 18, 'backup.get', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac04', 19, 'backup.*.list', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac04', 20, 'backup.*.get', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac04', 21, 'backup_schedule.list', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac04', 22, 'backup_schedule.get', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac04', 23, 'backup_schedule.*.list', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac04', 24, 'backup_schedule.*.get', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac04', 25, 'snapshot_policy.list', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac04', 26, 'snapshot_policy.get', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac04', 27, 'snapshot_policy.*.list', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac04', 28, 'snapshot_policy.*.get', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac04', 29, 'network.list', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac04', 30, 'network.get', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac04', 31, 'network.*.list', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac04', 32, 'network.*.get', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac04', 33, 'public_ip.list', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac04', 34, 'public_ip.get', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac04', 35, 'public_ip.*.list', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac04', 36, 'public_ip.*.get', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac04', 37, 'port_forwarding_rule.list', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac04', 38, 'port_forwarding_rule.get', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac04', 39, 'port_forwarding_rule.*.list', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac04', 40, 'port_forwarding_rule.*.get', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac04', 41, 'firewall_rule.list', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac04', 42, 'firewall_rule.get', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac04', 43, 'firewall_rule.*.list', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac04', 44, 'firewall_rule.*.get', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac04', 45, 'egress_rule.list', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac04', 46, 'egress_rule.get', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac04', 47, 'egress_rule.*.list', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac04', 48, 'egress_rule.*.get', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac04', 49, 'security_group.list', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac04', 50, 'security_group.get', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac04', 51, 'security_group.*.list', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac04', 52, 'security_group.*.get', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac04', 53, 'security_group_rule.list', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac04', 54, 'security_group_rule.get', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac04', 55, 'security_group_rule.*.list', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac04', 56, 'security_group_rule.*.get', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac04', 57, 'affinity_group.list', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac04', 58, 'affinity_group.get', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac04', 59, 'affinity_group.*.list', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac04', 60, 'affinity_group.*.get', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac04', 61, 'ssh_key_pair.list', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac04', 62, 'ssh_key_pair.get', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac04', 63, 'ssh_key_pair.*.list', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac04', 64, 'ssh_key_pair.*.get', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac04', 65, 'zone.list', 'allow', 'the catalog'),
    ('00000000-0000-4000-8000-00000000ac04', 66, 'zone.get', 'allow', 'the catalog'),
    ('00000000-0000-4000-8000-00000000ac04', 67, 'service_offering.list', 'allow', 'the catalog'),
    ('00000000-0000-4000-8000-00000000ac04', 68, 'service_offering.get', 'allow', 'the catalog'),
    ('00000000-0000-4000-8000-00000000ac04', 69, 'disk_offering.list', 'allow', 'the catalog'),
    ('00000000-0000-4000-8000-00000000ac04', 70, 'disk_offering.get', 'allow', 'the catalog'),
    ('00000000-0000-4000-8000-00000000ac04', 71, 'network_offering.list', 'allow', 'the catalog'),
    ('00000000-0000-4000-8000-00000000ac04', 72, 'network_offering.get', 'allow', 'the catalog'),
    ('00000000-0000-4000-8000-00000000ac04', 73, 'backup_offering.list', 'allow', 'the catalog'),
    ('00000000-0000-4000-8000-00000000ac04', 74, 'backup_offering.get', 'allow', 'the catalog'),
    ('00000000-0000-4000-8000-00000000ac04', 75, 'template.list', 'allow', 'the catalog'),
    ('00000000-0000-4000-8000-00000000ac04', 76, 'template.get', 'allow', 'the catalog'),
    ('00000000-0000-4000-8000-00000000ac04', 77, 'event.list', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac04', 78, 'event.*.list', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac04', 79, 'operation.list', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac04', 80, 'operation.get', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac04', 81, 'health.list', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac04', 82, 'acl.*.list', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac04', 83, 'acl.*.get', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac04', 84, 'usage_record.*.list', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac04', 85, 'usage_record.list', 'allow', ''),
    ('00000000-0000-4000-8000-00000000ac04', 86, 'vm.stats', 'allow', 'a VM''s statistics');

INSERT INTO acl_accounts (id, domain_id, name, role_id)
VALUES ('00000000-0000-4000-8000-00000000ac20', '00000000-0000-4000-8000-00000000ac10',
        'admin', '00000000-0000-4000-8000-00000000ac01');
