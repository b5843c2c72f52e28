"""Python client for Strato's REST API."""

from strato.sdk.client import StratoApiError, StratoClient

__all__ = ["StratoApiError", "StratoClient"]
