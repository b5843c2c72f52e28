"""Request and response models of the REST API (Create / Update / Filter per resource)."""
