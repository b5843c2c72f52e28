-- Alerts (CloudStack's alert table): something that needs an operator, raised once and
-- cleared when it no longer holds (capacity over its notification threshold), or left
-- for an operator (an HA VM that no host could take). One active alert per kind and
-- resource; each raise and clear also writes its event.
CREATE TABLE alerts (
    id            uuid PRIMARY KEY,
    kind          text NOT NULL,
    resource_type text NOT NULL,
    resource_id   uuid NOT NULL,
    name          text NOT NULL,
    detail        text NOT NULL,
    raised_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    cleared_at    timestamptz
);
CREATE UNIQUE INDEX alerts_active_idx ON alerts (kind, resource_id) WHERE cleared_at IS NULL;
CREATE INDEX alerts_raised_idx ON alerts (raised_at DESC);
