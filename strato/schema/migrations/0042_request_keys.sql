-- Idempotency-Key of requests that create at once (201) rather than through an
-- operation: the key, what the request was, and what it answered, written in the
-- transaction of the change itself, so a request repeated with its key gets the same
-- answer and changes nothing again (a public IP, a rule).
CREATE TABLE request_keys (
    key          text PRIMARY KEY,
    request_hash text NOT NULL,
    result       jsonb NOT NULL,
    operation_id uuid,
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp()
);
