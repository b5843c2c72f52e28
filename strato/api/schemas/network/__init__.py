"""Request and response bodies of the network routes (the network subsystem's home)."""
