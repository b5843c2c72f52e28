"""Compute: VMs, their offerings and templates, placement."""
