-- Managed services (the services framework): a definition run as system VMs by one
-- reconciler workflow each; its instances; the custom metrics it reports.
CREATE TABLE managed_services (
    id                  uuid PRIMARY KEY,
    name                text NOT NULL UNIQUE,
    release             text NOT NULL,
    previous_release    text,
    description         text NOT NULL DEFAULT '',
    state               text NOT NULL DEFAULT 'Active' CHECK (state IN ('Active', 'Deleting')),
    zone_id             uuid NOT NULL REFERENCES zones (id),
    template_id         uuid NOT NULL REFERENCES templates (id),
    service_offering_id uuid NOT NULL REFERENCES service_offerings (id),
    network_ids         uuid[] NOT NULL DEFAULT '{}',
    min_instances       integer NOT NULL CHECK (min_instances >= 0),
    max_instances       integer NOT NULL CHECK (max_instances >= 1),
    desired             integer NOT NULL,
    anti_affinity       text NOT NULL DEFAULT 'none',
    affinity_group_id   uuid REFERENCES affinity_groups (id),
    health              jsonb NOT NULL,
    autoscale           jsonb,
    strategy            jsonb NOT NULL,
    metrics             text[] NOT NULL DEFAULT '{}',
    last_scaled_at      timestamptz,
    failed_deploys      integer NOT NULL DEFAULT 0,
    last_failed_at      timestamptz,
    healthy             integer NOT NULL DEFAULT 0,
    instances           integer NOT NULL DEFAULT 0,
    last_error          text,
    observed_at         timestamptz,
    version             integer NOT NULL DEFAULT 1,
    created_at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    CHECK (min_instances <= desired AND desired <= max_instances)
);

CREATE TABLE managed_service_instances (
    vm_id            uuid PRIMARY KEY,
    service_id       uuid NOT NULL REFERENCES managed_services (id) ON DELETE CASCADE,
    release          text NOT NULL,
    health           text NOT NULL DEFAULT 'pending'
                     CHECK (health IN ('pending', 'passing', 'failing', 'retiring')),
    failures         integer NOT NULL DEFAULT 0,
    detail           text,
    directory_name   text,
    healthy_since    timestamptz,
    checked_at       timestamptz,
    created_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at       timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX managed_service_instances_service_idx ON managed_service_instances (service_id);

CREATE TABLE managed_service_metrics (
    service_id   uuid NOT NULL REFERENCES managed_services (id) ON DELETE CASCADE,
    name         text NOT NULL,
    value        double precision NOT NULL,
    reported_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (service_id, name)
);
