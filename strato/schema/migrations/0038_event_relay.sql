-- Writers wake the event relay and the API's stream broadcasters when they commit: one
-- notification per inserting statement (PostgreSQL folds repeats within a transaction).
CREATE FUNCTION strato_events_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('strato_events', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER events_notify AFTER INSERT ON events
    FOR EACH STATEMENT EXECUTE FUNCTION strato_events_notify();

-- How far each of the relay's sinks has taken the outbox (the last event id it took).
CREATE TABLE relay_positions (
    sink       text PRIMARY KEY,
    position   bigint NOT NULL DEFAULT 0 CHECK (position >= 0),
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE webhooks (
    id             uuid PRIMARY KEY,
    name           text NOT NULL,
    url            text NOT NULL,
    secret         text NOT NULL,
    types          text[] NOT NULL DEFAULT '{*}',
    resource_ids   uuid[] NOT NULL DEFAULT '{}',
    resource_types text[] NOT NULL DEFAULT '{}',
    enabled        boolean NOT NULL DEFAULT true,
    allow_internal boolean NOT NULL DEFAULT false,
    max_attempts   integer NOT NULL DEFAULT 8 CHECK (max_attempts BETWEEN 1 AND 50),
    version        integer NOT NULL DEFAULT 1,
    created_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at     timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- One event for one subscription. Per subscription and resource, deliveries go in event
-- order: one is tried only when no earlier one of its resource is pending.
CREATE TABLE webhook_deliveries (
    id              bigserial PRIMARY KEY,
    webhook_id      uuid NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_id        bigint NOT NULL,
    event_type      text NOT NULL,
    resource_key    text NOT NULL,  -- the event's resource id ('' for none)
    state           text NOT NULL DEFAULT 'pending'
                        CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    last_status     integer,
    last_error      text,
    delivered_at    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (webhook_id, event_id)
);
CREATE INDEX webhook_deliveries_pending_idx ON webhook_deliveries
    (webhook_id, resource_key, event_id) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_state_idx ON webhook_deliveries (webhook_id, state, id);
