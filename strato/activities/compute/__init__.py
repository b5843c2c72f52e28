"""Compute activities: VM record steps (orchestrator) and hypervisor steps (per-host queue)."""
