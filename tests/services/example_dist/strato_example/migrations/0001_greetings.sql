CREATE TABLE example_greetings (
    id         bigserial PRIMARY KEY,
    text       text NOT NULL CHECK (length(text) BETWEEN 1 AND 200),
    created_at timestamptz NOT NULL DEFAULT now()
);
