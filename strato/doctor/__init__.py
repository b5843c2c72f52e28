"""`strato doctor`: find (and with ``repair``, fix) every discrepancy between the
database's records, its own counters, and what the agents' drivers really hold.

Operators run it after an incident; the chaos suite runs it as its oracle. The database
checks need only PostgreSQL. Held operation locks are checked against Temporal, and the
drivers are asked through the ``Inventory`` workflow (so an orchestrator worker must be
running); what cannot be reached is reported as a note, not silently skipped.

The policy (what is a discrepancy, what fixes it) lives here, one module per subsystem;
the SQL it reads and the fixes it applies live in ``strato/schema/<subsystem>/audit.py``.
Each fix locks its row, re-checks under the lock and reports whether it acted, so a
repair never undoes what an operation did meanwhile; every repair writes a
``strato.doctor.repaired`` event, and a state it changes also writes the usual state event.
"""

from strato.doctor.findings import Finding
from strato.doctor.run import Report, examine

__all__ = ["Finding", "Report", "examine"]
