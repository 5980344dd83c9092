"""X-Ray traces of the push path, for a stage that turns them on.

Off unless POWERTOOLS_TRACE_DISABLED is "false" (the template sets it when the stage's
TracingLayerArn names a layer holding aws-xray-sdk, which the Lambda zip does not ship: it
would bring a second botocore). On, Powertools Tracer records a "## deliver" subsegment around
each batch of sends and one "## push" subsegment per push, annotated with call_id, app_id,
platform, attempt and outcome so X-Ray finds a call by any of them. Off, neither Tracer nor the
X-Ray SDK is imported: no cold-start or per-push cost.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

ENABLED = os.environ.get("POWERTOOLS_TRACE_DISABLED", "true").strip().lower() in ("false", "0")
ANNOTATIONS = ("call_id", "app_id", "platform", "attempt")

_tracer: Any = None


def _provider() -> Any:
    global _tracer
    if _tracer is None:
        from aws_lambda_powertools import Tracer

        # SQS, DynamoDB and Secrets Manager calls appear as subsegments too
        _tracer = Tracer(service="pushserver", disabled=False, patch_modules=("botocore",))
    return _tracer.provider


@contextmanager
def span(name: str) -> Iterator[None]:
    """A subsegment around the block when tracing is on; nothing otherwise."""
    if not ENABLED:
        yield
        return
    with _provider().in_subsegment(name=name):
        yield


def push_traced(fields: dict[str, Any], outcome: str, latency_ms: float | None) -> None:
    """The "## push" subsegment of one judged push, with its annotations."""
    if not ENABLED:
        return
    with _provider().in_subsegment(name="## push") as subsegment:
        for key in ANNOTATIONS:
            if fields.get(key) is not None:
                subsegment.put_annotation(key, fields[key])
        subsegment.put_annotation("outcome", outcome)
        if latency_ms is not None:
            subsegment.put_metadata("latency_ms", latency_ms)
