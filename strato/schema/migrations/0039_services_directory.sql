-- The services directory: every running component and service instance, with how to
-- reach it and whether it is healthy. An instance keeps itself passing by heartbeats
-- within its TTL ('ttl'), or the directory checks it over HTTP or TCP ('http', 'tcp').
CREATE TABLE service_instances (
    id             uuid PRIMARY KEY,
    name           text NOT NULL UNIQUE,
    kind           text NOT NULL,
    version        text NOT NULL DEFAULT '',
    zone           text,
    endpoints      jsonb NOT NULL DEFAULT '[]',
    metadata       jsonb NOT NULL DEFAULT '{}',
    health         text NOT NULL DEFAULT 'passing'
                       CHECK (health IN ('passing', 'warning', 'critical')),
    health_detail  text,
    check_kind     text NOT NULL DEFAULT 'ttl' CHECK (check_kind IN ('ttl', 'http', 'tcp')),
    check_target   text,
    ttl_s          integer NOT NULL DEFAULT 30 CHECK (ttl_s BETWEEN 1 AND 86400),
    deregister_after_s integer NOT NULL DEFAULT 120 CHECK (deregister_after_s >= 0),
    last_seen_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    critical_since timestamptz,
    created_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at     timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX service_instances_kind_idx ON service_instances (kind, zone, health);
