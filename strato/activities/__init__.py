"""Activity classes; their dependencies (database, drivers) are injected at construction."""
