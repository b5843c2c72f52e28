-- Workflows subscribed to events: the relay signals each matching event to the
-- workflow (`strato.event`), in order, from the newest event when it subscribed.
CREATE TABLE event_signals (
    id           uuid PRIMARY KEY,
    workflow_id  text NOT NULL,
    types        text[] NOT NULL DEFAULT '{*}',
    resource_ids uuid[] NOT NULL DEFAULT '{}',
    since_event  bigint NOT NULL DEFAULT 0,
    version      integer NOT NULL DEFAULT 1,
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at   timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX event_signals_workflow_idx ON event_signals (workflow_id);
