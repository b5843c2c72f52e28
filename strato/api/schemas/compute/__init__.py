"""Request and response bodies of the compute routes (catalog, VMs)."""
