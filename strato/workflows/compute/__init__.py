"""Compute workflows: one module per VM operation, plus the steps they share (vm_steps)."""
