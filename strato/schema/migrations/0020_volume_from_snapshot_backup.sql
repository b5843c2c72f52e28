-- A volume being made from a snapshot's backup names the snapshot: a delete of the
-- snapshot (which removes the backup) is refused until the copy is done.
ALTER TABLE volumes ADD COLUMN copied_from_snapshot uuid REFERENCES snapshots (id) ON DELETE SET NULL;
CREATE INDEX volumes_copied_from_snapshot_idx ON volumes (copied_from_snapshot)
    WHERE copied_from_snapshot IS NOT NULL;
