"""Storage activities: volume steps on a storage pool's queue."""
