-- Hosts served on a shared task queue (a simulator fleet's): their host-bound steps go to
-- '<subsystem>+<agent_queue>' (compute+…, network+…), the host named in the activity id,
-- instead of the host's own 'compute@<host>' / 'network@<host>'. NULL: its own queues.
ALTER TABLE hosts ADD COLUMN agent_queue text;
