-- Volumes restored from a VM backup name it: a backup being restored from cannot be
-- deleted under the copy (DeleteBackup refuses while such a volume is still being made).
ALTER TABLE volumes ADD COLUMN restored_from uuid REFERENCES backups (id) ON DELETE SET NULL;
CREATE INDEX volumes_restored_from_idx ON volumes (restored_from) WHERE restored_from IS NOT NULL;
