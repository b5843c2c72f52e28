"""Events leaving the platform: the outbox relay and its sinks (webhooks, SSE)."""
