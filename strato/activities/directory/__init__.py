"""The directory's data-service activity: recording what processes announce."""
