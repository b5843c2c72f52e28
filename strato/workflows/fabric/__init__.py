"""Fabric workflows: adding and registering hosts, host monitoring, inventory."""
