-- The outcome of the last operation that finished on a VM. A workflow task whose result
-- was lost (a worker starved or killed) is replayed, and its local steps run again; the
-- first step then finds the lock gone and must tell "my own operation already finished"
-- (and how) from "another operation holds it".
ALTER TABLE vms
    ADD COLUMN last_operation_id uuid,
    ADD COLUMN last_error_type text;
