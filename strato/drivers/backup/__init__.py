"""Backup providers: where a zone's VM backups are kept (the contract is :mod:`base`)."""
