-- Volume snapshots (CloudStack's states). A snapshot's operations act on its volume's file,
-- so they hold the volume's lock; the snapshot row carries only its state.
CREATE TABLE snapshots (
    id           uuid PRIMARY KEY,
    name         text NOT NULL,
    volume_id    uuid NOT NULL REFERENCES volumes (id) ON DELETE RESTRICT,
    zone_id      uuid NOT NULL REFERENCES zones (id) ON DELETE RESTRICT,
    owner        text NOT NULL DEFAULT '',
    kind         text NOT NULL DEFAULT 'MANUAL' CHECK (kind IN (
                     'MANUAL', 'HOURLY', 'DAILY', 'WEEKLY', 'MONTHLY')),
    storage_name text NOT NULL,
    size_bytes   bigint NOT NULL DEFAULT 0 CHECK (size_bytes >= 0),
    state        text NOT NULL DEFAULT 'Allocated' CHECK (state IN (
                     'Allocated', 'Creating', 'CreatedOnPrimary', 'BackingUp', 'BackedUp',
                     'Copying', 'Destroying', 'Destroyed', 'Error')),
    last_error   text,
    version      integer NOT NULL DEFAULT 1,
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at   timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX snapshots_volume_idx ON snapshots (volume_id);

-- A volume being reverted to one of its snapshots.
ALTER TABLE volumes DROP CONSTRAINT volumes_state_check;
ALTER TABLE volumes ADD CONSTRAINT volumes_state_check CHECK (state IN (
    'Allocated', 'Creating', 'Ready', 'Resizing', 'Migrating', 'Copying', 'Snapshotting',
    'RevertSnapshotting', 'Destroy', 'Expunging', 'Expunged', 'Error'));
