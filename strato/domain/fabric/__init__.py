"""Fabric: zones, pods, clusters, hosts, and the agents that serve them."""
