"""Fabric activities: the data-service steps of host registration, heartbeats and inventory."""
