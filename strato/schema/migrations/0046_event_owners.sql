-- Each event carries the owner of its resource, so an account's callers see only their
-- own events (list and stream) without a join per read. A trigger stamps it from the
-- resource's row as the event is written, in the changing transaction: no writer has to
-- pass it. Resources without an owner (hosts, zones, ...) leave it NULL: those events are
-- for the cloud's administrators only.
ALTER TABLE events ADD COLUMN owner text;

CREATE FUNCTION events_stamp_owner() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.owner IS NULL AND NEW.resource_id IS NOT NULL THEN
        NEW.owner := CASE NEW.resource_type
            WHEN 'vm' THEN (SELECT owner FROM vms WHERE id = NEW.resource_id)
            WHEN 'volume' THEN (SELECT owner FROM volumes WHERE id = NEW.resource_id)
            WHEN 'snapshot' THEN (SELECT owner FROM snapshots WHERE id = NEW.resource_id)
            WHEN 'network' THEN (SELECT owner FROM networks WHERE id = NEW.resource_id)
            WHEN 'public_ip' THEN (SELECT owner FROM public_ips WHERE id = NEW.resource_id)
            WHEN 'security_group' THEN
                (SELECT owner FROM security_groups WHERE id = NEW.resource_id)
            WHEN 'affinity_group' THEN
                (SELECT owner FROM affinity_groups WHERE id = NEW.resource_id)
            WHEN 'ssh_key_pair' THEN
                (SELECT owner FROM ssh_key_pairs WHERE id = NEW.resource_id)
            WHEN 'vm_snapshot' THEN
                (SELECT v.owner FROM vm_snapshots s JOIN vms v ON v.id = s.vm_id
                 WHERE s.id = NEW.resource_id)
            WHEN 'backup' THEN
                (SELECT v.owner FROM backups b JOIN vms v ON v.id = b.vm_id
                 WHERE b.id = NEW.resource_id)
        END;
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER events_owner BEFORE INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION events_stamp_owner();
