"""Storage data: volume rows and their states."""
