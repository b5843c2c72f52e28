"""Fabric data: host registration, heartbeats, host state and the agents' VM sync."""
