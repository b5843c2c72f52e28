-- A snapshot backed up to secondary storage (CloudStack's BackedUp): a standalone qcow2
-- of its content in an image store of the zone, which outlives the volume's file.
ALTER TABLE snapshots
    ADD COLUMN backup_store_id uuid REFERENCES image_stores (id) ON DELETE RESTRICT,
    ADD COLUMN backup_path     text,
    ADD COLUMN backup_bytes    bigint NOT NULL DEFAULT 0;
