-- An operation's outcome is kept here once its run has ended, so it is served after
-- Temporal's retention has deleted the run (and without asking Temporal again).
ALTER TABLE operations
    ADD COLUMN outcome jsonb,
    ADD COLUMN outcome_checked_at timestamptz;
CREATE INDEX operations_open_idx ON operations (coalesce(outcome_checked_at, created_at))
    WHERE outcome IS NULL AND run_id IS NOT NULL;
