-- What a VM's guest learns about itself from its network's router (CloudStack's and EC2's
-- metadata service): its user data (base64, at most 32 KiB decoded) and its SSH keys.
ALTER TABLE vms ADD COLUMN user_data text CHECK (length(user_data) <= 43692);
ALTER TABLE vms ADD COLUMN ssh_keys text[] NOT NULL DEFAULT '{}';
