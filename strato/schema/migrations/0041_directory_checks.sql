-- When the directory last checked an instance over HTTP or TCP: each is checked every
-- third of its TTL, not every round of the keeper (thousands of agents are checked).
ALTER TABLE service_instances ADD COLUMN checked_at timestamptz;
