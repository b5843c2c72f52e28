"""Network data: address management (IPAM) for guest networks."""
