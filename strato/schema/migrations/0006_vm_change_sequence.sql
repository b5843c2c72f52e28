-- Every change of a VM row takes the next number of one database sequence. A report of
-- what a hypervisor runs carries a number the database issued before the report was
-- taken (its watermark): a row whose number is above it may have changed after the
-- report, so the report cannot correct it. Reports are ordered against changes by the
-- database alone, never by comparing an agent's clock with the database's.
CREATE SEQUENCE vm_change_seq;
ALTER TABLE vms ADD COLUMN change_seq bigint NOT NULL DEFAULT nextval('vm_change_seq');

CREATE FUNCTION vms_stamp_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.change_seq := nextval('vm_change_seq');
    RETURN NEW;
END $$;

CREATE TRIGGER vms_stamp_change BEFORE UPDATE ON vms
    FOR EACH ROW EXECUTE FUNCTION vms_stamp_change();
