-- A subscription gets the events after the newest one when it was made, not the
-- backlog the relay had not taken yet.
ALTER TABLE webhooks ADD COLUMN since_event bigint NOT NULL DEFAULT 0;
