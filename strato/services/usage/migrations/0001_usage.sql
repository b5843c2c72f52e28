-- The usage service's tables (migration track "usage").
--
-- usage_state: how far it read the events outbox, and aggregated.
-- usage_intervals: what an account's resource was doing, from its events: one row per
--   stretch of one usage type (opened by one event, closed by a later one).
-- usage_records: one per resource, usage type and aggregation period (an hour).

CREATE TABLE usage_state (
    id               int PRIMARY KEY CHECK (id = 1),
    position         bigint NOT NULL DEFAULT 0,
    aggregated_until timestamptz
);
INSERT INTO usage_state (id) VALUES (1);

CREATE TABLE usage_intervals (
    id          bigserial PRIMARY KEY,
    account     text NOT NULL,
    usage_type  text NOT NULL,
    resource_id uuid NOT NULL,
    offering_id uuid,
    size_bytes  bigint,
    started_at  timestamptz NOT NULL,
    ended_at    timestamptz,
    start_event bigint NOT NULL,
    end_event   bigint,
    UNIQUE (start_event, usage_type)
);
-- One open stretch per resource and type: applying its opening event again is a no-op.
CREATE UNIQUE INDEX usage_intervals_open_idx ON usage_intervals (usage_type, resource_id)
    WHERE ended_at IS NULL;
CREATE INDEX usage_intervals_time_idx ON usage_intervals (started_at, ended_at);

CREATE TABLE usage_records (
    account     text NOT NULL,
    usage_type  text NOT NULL,
    resource_id uuid NOT NULL,
    offering_id uuid,
    size_bytes  bigint,
    start_at    timestamptz NOT NULL,
    end_at      timestamptz NOT NULL,
    hours       numeric(12, 6) NOT NULL,
    quantity    numeric(18, 6) NOT NULL,   -- hours, or GiB-hours for storage
    unit        text NOT NULL,
    -- an address may change hands within an hour: one record per holder
    PRIMARY KEY (usage_type, resource_id, start_at, account)
);
CREATE INDEX usage_records_account_idx ON usage_records (account, start_at);
