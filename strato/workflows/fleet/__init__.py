"""Managed services: the reconciler that runs each one."""
