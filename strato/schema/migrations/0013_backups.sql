-- VM backups (CloudStack's backup offerings and backups): a full copy of every volume of
-- a VM, each taken from a snapshot (so consistent per disk) and exported to the zone's
-- image store; ``retention`` of its offering keeps that many of a VM's backups.
CREATE TABLE backup_offerings (
    id          uuid PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    description text NOT NULL DEFAULT '',
    retention   integer NOT NULL DEFAULT 7 CHECK (retention BETWEEN 1 AND 1000),
    state       text NOT NULL DEFAULT 'Active' CHECK (state IN ('Active', 'Inactive')),
    version     integer NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);

ALTER TABLE vms ADD COLUMN backup_offering_id uuid
    REFERENCES backup_offerings (id) ON DELETE RESTRICT;

CREATE TABLE backups (
    id                   uuid PRIMARY KEY,
    vm_id                uuid NOT NULL REFERENCES vms (id) ON DELETE RESTRICT,
    zone_id              uuid NOT NULL REFERENCES zones (id) ON DELETE RESTRICT,
    offering_id          uuid NOT NULL REFERENCES backup_offerings (id) ON DELETE RESTRICT,
    store_id             uuid NOT NULL REFERENCES image_stores (id) ON DELETE RESTRICT,
    state                text NOT NULL DEFAULT 'BackingUp' CHECK (state IN (
                             'BackingUp', 'BackedUp', 'Error', 'Removing', 'Removed')),
    size_bytes           bigint NOT NULL DEFAULT 0,
    -- [{volume_id, kind, device_id, size_bytes, path}] once backed up
    volumes              jsonb NOT NULL DEFAULT '[]',
    last_error           text,
    current_operation_id uuid,
    version              integer NOT NULL DEFAULT 1,
    created_at           timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at           timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX backups_vm_idx ON backups (vm_id, created_at);
