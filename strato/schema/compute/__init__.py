"""Compute data: VM rows and their states, capacity claims and placement queries."""
