-- Recurring snapshot policies (CloudStack's createSnapshotPolicy): one per volume and
-- interval type, each a Temporal Schedule (``schedule_id``). ``paused`` is the pause
-- state last applied to the schedule: paused while the volume is detached or not Ready.
CREATE TABLE snapshot_policies (
    id            uuid PRIMARY KEY,
    volume_id     uuid NOT NULL REFERENCES volumes (id) ON DELETE RESTRICT,
    interval_type text NOT NULL CHECK (interval_type IN ('HOURLY', 'DAILY', 'WEEKLY', 'MONTHLY')),
    schedule      text NOT NULL,
    timezone      text NOT NULL DEFAULT 'UTC',
    max_snaps     integer NOT NULL CHECK (max_snaps BETWEEN 1 AND 1000),
    schedule_id   text NOT NULL UNIQUE,
    paused        boolean NOT NULL DEFAULT false,
    version       integer NOT NULL DEFAULT 1,
    created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (volume_id, interval_type)
);

-- The policy that took a snapshot (its "keep the last N" prunes only its own).
ALTER TABLE snapshots ADD COLUMN policy_id uuid
    REFERENCES snapshot_policies (id) ON DELETE SET NULL;
CREATE INDEX snapshots_policy_idx ON snapshots (policy_id, created_at);
