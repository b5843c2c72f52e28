"""Subsystem plugin contracts and implementations. Drivers import only ``strato.domain``."""
