"""PostgreSQL: migrations, the migrator and repositories (SQL <-> domain). All SQL lives here."""
