-- Network offerings (CloudStack's): what a guest network of the offering gets: its guest
-- type and the services its router provides. Guest networks name their offering and the
-- physical network their segment comes from.
CREATE TABLE network_offerings (
    id              uuid PRIMARY KEY,
    name            text NOT NULL UNIQUE,
    display_text    text NOT NULL DEFAULT '',
    guest_type      text NOT NULL CHECK (guest_type IN ('Isolated', 'Shared')),
    services        text[] NOT NULL DEFAULT '{}'
                    CHECK (services <@ ARRAY['Dhcp', 'Dns', 'SourceNat', 'StaticNat',
                           'PortForwarding', 'Firewall', 'UserData', 'SecurityGroup']::text[]),
    state           text NOT NULL DEFAULT 'Enabled' CHECK (state IN ('Enabled', 'Disabled')),
    version         integer NOT NULL DEFAULT 1,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at      timestamptz NOT NULL DEFAULT clock_timestamp()
);
INSERT INTO network_offerings (id, name, display_text, guest_type, services) VALUES
    ('00000000-0000-4000-8000-00000000a001', 'DefaultIsolatedNetworkOfferingWithSourceNatService',
     'an isolated network with a virtual router', 'Isolated',
     '{Dhcp,Dns,SourceNat,StaticNat,PortForwarding,Firewall,UserData}'),
    ('00000000-0000-4000-8000-00000000a002', 'DefaultSharedNetworkOffering',
     'a shared network: DHCP and DNS only', 'Shared', '{Dhcp,Dns,UserData}');

ALTER TABLE networks ADD COLUMN offering_id uuid REFERENCES network_offerings (id) ON DELETE RESTRICT;
ALTER TABLE networks ADD COLUMN physical_network_id uuid
    REFERENCES physical_networks (id) ON DELETE RESTRICT;
