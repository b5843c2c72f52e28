-- Scheduled VM backups (CloudStack's createBackupSchedule): each a Temporal Schedule
-- (``schedule_id``) whose firings back the VM up with its offering; the offering's
-- retention prunes the oldest.
CREATE TABLE backup_schedules (
    id            uuid PRIMARY KEY,
    vm_id         uuid NOT NULL REFERENCES vms (id) ON DELETE RESTRICT,
    interval_type text NOT NULL CHECK (interval_type IN ('HOURLY', 'DAILY', 'WEEKLY', 'MONTHLY')),
    schedule      text NOT NULL,
    timezone      text NOT NULL DEFAULT 'UTC',
    schedule_id   text NOT NULL UNIQUE,
    version       integer NOT NULL DEFAULT 1,
    created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (vm_id, interval_type)
);
