"""Embedded defaults for ``strato up``: PostgreSQL and Temporal from wheels, supervised children."""
