"""The retry queue: its message, its backends (local thread, SQS), policy and idempotency."""
