-- The routers a Down host ran when its networks' routers were moved elsewhere: its
-- network agent, back, must remove them (two routers on one segment answer for the same
-- gateway address). Lifted once the host's monitor has had them destroyed, or when the
-- network's router is that host's again.
CREATE TABLE router_fences (
    host_id    uuid NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
    network_id uuid NOT NULL REFERENCES networks (id) ON DELETE CASCADE,
    outage     integer NOT NULL,
    PRIMARY KEY (host_id, network_id)
);
