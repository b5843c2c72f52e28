"""Strato's search attributes, set on every execution so SREs can find any resource's flows."""

from __future__ import annotations

from collections.abc import Mapping

from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

RESOURCE_TYPE = SearchAttributeKey.for_keyword("StratoResourceType")
RESOURCE_ID = SearchAttributeKey.for_keyword("StratoResourceId")
OPERATION = SearchAttributeKey.for_keyword("StratoOperation")
ZONE = SearchAttributeKey.for_keyword("StratoZone")
HOST = SearchAttributeKey.for_keyword("StratoHost")
OWNER = SearchAttributeKey.for_keyword("StratoOwner")
# A host monitor's host status (Up, Alert, Disconnected, Down): SREs list hosts by it.
HOST_STATUS = SearchAttributeKey.for_keyword("StratoHostStatus")

_BY_NAME = {
    k.name: k for k in (RESOURCE_TYPE, RESOURCE_ID, OPERATION, ZONE, HOST, OWNER, HOST_STATUS)
}


def typed(values: Mapping[str, str]) -> TypedSearchAttributes:
    """Build typed attributes from ``{"StratoZone": "...", ...}``; empty values are skipped."""
    pairs = [SearchAttributePair(_BY_NAME[k], v) for k, v in values.items() if v and k in _BY_NAME]
    return TypedSearchAttributes(pairs)
