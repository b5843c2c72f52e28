-- A subscription gets the events after the newest one when it was made, not the
-- backlog the relay had not taken yet.
ALTER TABLE webhooks ADD COLUMN since_event bigint NOT NULL DEFAULT 0;

-- A subscription's pending deliveries in event order (the deliverer reads the oldest).
CREATE INDEX webhook_deliveries_queue_idx ON webhook_deliveries (webhook_id, event_id)
    WHERE state = 'pending';
