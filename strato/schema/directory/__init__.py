"""The services directory's data: instances, their heartbeats and health."""
