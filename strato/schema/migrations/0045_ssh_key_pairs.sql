-- SSH key pairs (CloudStack's): an owner's public keys by name, given to VMs at deploy
-- and handed to their guests by the router's metadata service. A private key made here
-- is returned once and never stored.
CREATE TABLE ssh_key_pairs (
    id                 uuid PRIMARY KEY,
    name               text NOT NULL,
    owner              text NOT NULL DEFAULT '',
    public_key         text NOT NULL,
    fingerprint        text NOT NULL,   -- MD5, colon-separated (CloudStack's)
    fingerprint_sha256 text NOT NULL,   -- OpenSSH's
    created_at         timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at         timestamptz NOT NULL DEFAULT clock_timestamp(),
    version            int NOT NULL DEFAULT 1,
    UNIQUE (owner, name)
);
CREATE INDEX ssh_key_pairs_page_idx ON ssh_key_pairs (created_at, id);
