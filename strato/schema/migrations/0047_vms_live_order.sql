-- The VMs that are not expunged, in list order: a count of them and a page found by
-- OFFSET (CloudStack's page/pagesize, the CloudStack-compatible API) are index-only
-- scans instead of a walk over the table's rows.
CREATE INDEX vms_live_order_idx ON vms (created_at, id) WHERE state <> 'Expunged';
