"""The directory's workflow: announcements of processes without database access."""
