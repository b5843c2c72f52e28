-- Data volumes: a volume has its own operation lock (like a VM's), a stable device number
-- on the VM it is attached to, the reason of its last failure, and when it was destroyed
-- (its expunge is due after the delay unless it is recovered).
ALTER TABLE volumes
    ADD COLUMN device_id              integer CHECK (device_id BETWEEN 0 AND 25),
    ADD COLUMN current_operation_id   uuid,
    ADD COLUMN current_operation_kind text,
    ADD COLUMN last_operation_id      uuid,
    ADD COLUMN last_error             text,
    ADD COLUMN destroyed_at           timestamptz,
    ADD COLUMN expunge_at             timestamptz;

-- Root volumes are device 0 (vda); a data volume's number is given when it is attached.
UPDATE volumes SET device_id = 0 WHERE kind = 'ROOT' AND vm_id IS NOT NULL;

-- One volume per device of a VM.
CREATE UNIQUE INDEX volumes_vm_device_idx ON volumes (vm_id, device_id)
    WHERE vm_id IS NOT NULL AND device_id IS NOT NULL;

-- A data volume is attached (vm_id and device_id) or not (neither).
ALTER TABLE volumes ADD CONSTRAINT volumes_attached_has_device
    CHECK (kind = 'ROOT' OR (vm_id IS NULL) = (device_id IS NULL));
