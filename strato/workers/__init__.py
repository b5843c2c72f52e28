"""Worker entry points and wiring: which queues, which activities, which drivers."""
