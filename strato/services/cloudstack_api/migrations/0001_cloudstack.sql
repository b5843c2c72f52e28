-- The CloudStack-compatible API's own tables (migration track "cloudstack_api").
--
-- cloudstack_jobs: CloudStack's async jobs. A job is on the Strato operation its
--   command started (operation_id; one operation may serve two jobs, as a network's
--   rules applied once for two changes), or a change that completed at once (its
--   result kept). Its status is settled from the
--   operation's outcome the first time it is read after the operation ended.
-- cloudstack_tags: CloudStack's resource tags (createTags/deleteTags/listTags), one row
--   per resource and key.

CREATE TABLE cloudstack_jobs (
    id            uuid PRIMARY KEY,
    operation_id  uuid,
    command       text NOT NULL,
    owner         text NOT NULL DEFAULT '',
    user_id       text NOT NULL DEFAULT '',
    instance_type text NOT NULL DEFAULT '',
    instance_id   uuid,
    item          text,
    status        int NOT NULL DEFAULT 0 CHECK (status IN (0, 1, 2)),
    result_code   int NOT NULL DEFAULT 0,
    result        jsonb,
    created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    completed_at  timestamptz
);
CREATE INDEX cloudstack_jobs_owner_idx ON cloudstack_jobs (owner, created_at);
CREATE INDEX cloudstack_jobs_operation_idx ON cloudstack_jobs (operation_id);

CREATE TABLE cloudstack_tags (
    resource_id   uuid NOT NULL,
    resource_type text NOT NULL,
    key           text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    value         text NOT NULL CHECK (length(value) <= 255),
    owner         text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (resource_id, key)
);
CREATE INDEX cloudstack_tags_key_idx ON cloudstack_tags (key, value);
