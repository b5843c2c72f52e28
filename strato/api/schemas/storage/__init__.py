"""Request and response bodies of the storage routes (the storage subsystem's home)."""
