-- Secondary storage (CloudStack's image stores): where a zone keeps templates and ISOs.
-- ``url`` is where every host and the template service see it (file:///<mount>).
CREATE TABLE image_stores (
    id         uuid PRIMARY KEY,
    zone_id    uuid NOT NULL REFERENCES zones (id) ON DELETE RESTRICT,
    name       text NOT NULL UNIQUE,
    driver     text NOT NULL DEFAULT 'directory' CHECK (driver IN ('directory', 'simulator')),
    url        text NOT NULL,
    state      text NOT NULL DEFAULT 'Up' CHECK (state IN ('Up', 'ReadOnly', 'Disabled')),
    version    integer NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX image_stores_zone_idx ON image_stores (zone_id);

-- A template's copy in one image store (CloudStack's template_store_ref): Downloading
-- while the template service fetches or copies it, Ready once verified and published.
CREATE TABLE template_stores (
    template_id  uuid NOT NULL REFERENCES templates (id) ON DELETE CASCADE,
    store_id     uuid NOT NULL REFERENCES image_stores (id) ON DELETE RESTRICT,
    state        text NOT NULL CHECK (state IN ('Downloading', 'Ready', 'Error')),
    path         text,
    size_bytes   bigint NOT NULL DEFAULT 0,
    last_error   text,
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (template_id, store_id)
);
CREATE INDEX template_stores_store_idx ON template_stores (store_id);

-- A template's copy on a primary pool, which root disks there are thin clones of
-- (CloudStack's template_spool_ref). One row per template and pool: the first deploy
-- claims it (Copying) and copies; the others wait for Ready. ``copies`` counts the
-- copies made (one, unless a copy was lost and made again). Evicting: being deleted by
-- the cache's garbage collection, once no volume on the pool is cloned from it.
CREATE TABLE template_pool_cache (
    template_id uuid NOT NULL REFERENCES templates (id) ON DELETE CASCADE,
    pool_id     uuid NOT NULL REFERENCES storage_pools (id) ON DELETE RESTRICT,
    state       text NOT NULL CHECK (state IN ('Copying', 'Ready', 'Evicting')),
    name        text NOT NULL,
    size_bytes  bigint NOT NULL DEFAULT 0,
    copies      integer NOT NULL DEFAULT 0,
    claimed_by  uuid,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    used_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (template_id, pool_id)
);
CREATE INDEX template_pool_cache_pool_idx ON template_pool_cache (pool_id);
CREATE INDEX volumes_template_pool_idx ON volumes (template_id, pool_id);

-- A template fetched by the template service: its lock, why it failed, its sizes
-- (``size_bytes`` is the virtual size, what a root disk needs at least).
ALTER TABLE templates
    ADD COLUMN physical_size_bytes  bigint NOT NULL DEFAULT 0,
    ADD COLUMN max_size_bytes       bigint,
    ADD COLUMN last_error           text,
    ADD COLUMN current_operation_id uuid,
    ADD COLUMN stored               boolean NOT NULL DEFAULT false;
ALTER TABLE templates DROP CONSTRAINT templates_state_check;
ALTER TABLE templates ADD CONSTRAINT templates_state_check CHECK (state IN (
    'Registered', 'Downloading', 'Ready', 'Error', 'Inactive', 'Deleting'));
