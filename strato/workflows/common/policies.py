"""Timeouts and retry policies every operation's steps share (compute, storage, network)."""

from __future__ import annotations

from datetime import timedelta

from temporalio.common import RetryPolicy

# Data-service steps (local activities on the orchestrator).
LOCAL_TIMEOUT = timedelta(seconds=30)
LOCAL_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    maximum_interval=timedelta(seconds=2),
    maximum_attempts=10,
)
HOST_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=500), backoff_coefficient=2.0, maximum_attempts=3
)
# A host whose agent takes no task for this long is treated as dead. Until agents heartbeat
# (fabric monitor), a backlog this long on a busy host is indistinguishable from that.
SCHEDULE_TO_START = timedelta(seconds=30)
# Host-bound activities heartbeat every few seconds: an agent killed mid-step is noticed
# after this long (not after the step's whole timeout) and the step is retried, by the
# restarted agent if it comes back in time.
HOST_HEARTBEAT = timedelta(seconds=10)
BEST_EFFORT_RETRY = RetryPolicy(maximum_attempts=2)
# The guard's settling step must happen: it retries until the database answers.
SETTLE_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=10)
)
