"""The usage service (CloudStack's usage server), STRATO_SERVICES=usage: hourly usage
records per account, from the events outbox.

Its process (``python -m strato.services.usage.run``, started by ``strato up``) reads
the outbox after its own stored position and turns each event about an account's
resource into usage intervals (a VM running, a VM allocated, a volume of some size, a
snapshot, a public IP), the position moved in the same transaction: a kill -9 loses
or repeats nothing. Each complete hour is then aggregated, in one transaction, into
one record per resource and usage type (hours, or GiB-hours for storage), keyed so
that it can exist once. Applying an event twice (a rewound position) changes nothing.
"""
