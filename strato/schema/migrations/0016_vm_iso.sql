-- An ISO in a VM's CD-ROM drive (CloudStack's attachIso): the ISO template, and the path
-- of its copy on the pool of the VM's root volume, which every boot of the VM inserts.
ALTER TABLE vms ADD COLUMN iso_id uuid REFERENCES templates (id) ON DELETE RESTRICT;
ALTER TABLE vms ADD COLUMN iso_path text;
CREATE INDEX vms_iso_idx ON vms (iso_id) WHERE iso_id IS NOT NULL;
