"""Managed services' tables (migration 0044)."""
