"""The REST gateway (FastAPI). Validates, authorizes, writes intent, starts workflows."""
