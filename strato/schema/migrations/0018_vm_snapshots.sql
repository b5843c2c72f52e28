-- VM snapshots (CloudStack's createVMSnapshot): every disk of a VM at one instant, with its
-- memory and device state when taken from a running VM with ``memory``. Each disk holds an
-- internal snapshot named ``tag``; the VM state is in the first disk's. ``disks`` lists the
-- volumes that hold it ([{volume_id, name, pool, device}]): a VM with snapshots keeps its
-- set of disks (attach, detach, resize and migration are refused) until they are deleted.
CREATE TABLE vm_snapshots (
    id                   uuid PRIMARY KEY,
    vm_id                uuid NOT NULL REFERENCES vms (id) ON DELETE RESTRICT,
    name                 text NOT NULL,
    description          text NOT NULL DEFAULT '',
    memory               boolean NOT NULL DEFAULT false,
    tag                  text NOT NULL,
    vm_state             text NOT NULL CHECK (vm_state IN ('Running', 'Stopped')),
    state                text NOT NULL DEFAULT 'Creating' CHECK (state IN (
                             'Allocated', 'Creating', 'Ready', 'Reverting', 'Expunging',
                             'Removed', 'Error')),
    disks                jsonb NOT NULL DEFAULT '[]',
    last_error           text,
    current_operation_id uuid,
    version              integer NOT NULL DEFAULT 1,
    created_at           timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at           timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX vm_snapshots_vm_idx ON vm_snapshots (vm_id, created_at);
CREATE UNIQUE INDEX vm_snapshots_name_idx ON vm_snapshots (vm_id, name) WHERE state <> 'Removed';
