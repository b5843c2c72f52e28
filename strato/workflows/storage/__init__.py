"""Storage workflows: volume, snapshot and template operations, one module per operation."""
