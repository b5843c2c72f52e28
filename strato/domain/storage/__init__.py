"""Storage: primary pools and volumes."""
