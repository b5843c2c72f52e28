"""Managed services (the services framework): a definition of a service run as system
VMs, and the reconciler that keeps it deployed, healthy, scaled and up to date."""
