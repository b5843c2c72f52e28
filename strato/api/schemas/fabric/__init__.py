"""Request and response bodies of the fabric routes."""
