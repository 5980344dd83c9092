"""Structured logs and metrics: one JSON line per push with the call-id, never a credential,
that is also the EMF document of the push's metrics; other counters are flushed at the end
of each invocation."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.metrics import MetricUnit

from . import logformat


def _as_written(message: dict[str, Any] | str | bool | int | float) -> str:
    """A message as it was written: ours are phrases, never JSON documents, so Powertools'
    attempt to parse each one as JSON (a raised and caught error per line) is skipped."""
    return str(message)


# The service name differs from the Chalice app name: Chalice and Powertools would otherwise
# share one logging logger and print every line twice.
# The level is the settings' LOG_LEVEL, set when the container starts (api._start).
logger = Logger(service="pushserver", level="INFO", json_deserializer=_as_written)
logger.remove_keys(["location"])  # always this module's helper: noise on every line
# Documented logging optimisations: a Lambda needs no process names in its records.
logging.logProcesses = logging.logMultiprocessing = False
metrics = Metrics(
    namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "RtcPushserver"), service="pushserver"
)
for noisy in ("httpx", "httpcore", "hpack", "h2", "botocore", "urllib3"):
    logging.getLogger(noisy).setLevel(logging.WARNING)
_console = cast(LambdaPowertoolsFormatter, logger.registered_formatter)
_JSON = _console.json_serializer


def _json_line(record: Mapping[str, Any]) -> str:
    """A line carrying EMF metrics has its time in `_aws.Timestamp` (epoch ms), which EMF
    requires: Powertools' `timestamp` would repeat it in 41 more bytes of ingestion per push."""
    repeated = "timestamp" if "_aws" in record else None
    return _JSON({k: v for k, v in record.items() if k != repeated})


_console.json_serializer = _json_line
_print_metrics = True


def use_format(log_format: str) -> None:
    """The settings' LOG_FORMAT for the console: `json` (CloudWatch's, with EMF metrics) or
    `text` (one readable line per event; the metrics, meant for CloudWatch, not printed)."""
    global _print_metrics
    text = log_format == "text"
    _console.json_serializer = logformat.text_line if text else _json_line
    _console.datefmt = logformat.TIME_FORMAT if text else None
    _print_metrics = not text


def log_to_file(path: Path) -> logging.Handler:
    """Also write every line, always as JSON, to `path` (`make run`: what `pushclient trace`
    reads locally). Its own formatter, so a readable console format leaves the file JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    formatter = LambdaPowertoolsFormatter(json_serializer=_json_line, json_deserializer=_as_written)
    formatter.append_keys(service=logger.service)
    formatter.remove_keys(["location"])
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(formatter)
    logger.addHandler(handler)
    return handler


if os.environ.get("LOG_FILE"):
    log_to_file(Path(os.environ["LOG_FILE"]))


@contextmanager
def correlation(**fields: Any) -> Iterator[None]:
    """Every line this thread logs inside the block carries `fields` (None ones left out),
    including lines of modules that know nothing of the push, such as the token stores."""
    before = dict(logger.thread_safe_get_current_keys())
    logger.thread_safe_append_keys(**{k: v for k, v in fields.items() if v is not None})
    try:
        yield
    finally:
        # Powertools removes keys in place: start from a fresh dict instead
        logger.thread_safe_clear_keys()
        logger.thread_safe_append_keys(**before)


def mask(token: str) -> str:
    """Only the last 8 characters of a device token, enough to find it, not to use it."""
    return f"...{token[-8:]}" if len(token) > 8 else "..."


def log(
    message: str,
    level: int = logging.INFO,
    *,
    metrics: dict[str, float] | None = None,
    **fields: Any,
) -> None:
    """One JSON line; with `metrics`, the same line is also their EMF document (CloudWatch
    extracts them from it), so a push costs one line, not a line and a metrics blob. That
    line's time is the EMF `_aws.Timestamp` alone (see `_json_line`)."""
    extra = {k: v for k, v in fields.items() if v is not None}
    if metrics and _print_metrics:
        extra.update(_emf(metrics, {**logger.thread_safe_get_current_keys(), **extra}))
    if level >= logging.ERROR:
        logger.error(message, extra=extra)
    elif level >= logging.WARNING:
        logger.warning(message, extra=extra)
    else:
        logger.info(message, extra=extra)


_UNITS = {"PnsLatency": MetricUnit.Milliseconds.value}  # the others are counts


def _emf(values: dict[str, float], line: dict[str, Any]) -> dict[str, Any]:
    """The EMF directive and values for a log line whose own fields hold the dimensions."""
    dimensions = [name for name in ("app_id", "platform") if name in line] + ["service"]
    directive = {
        "Namespace": metrics.namespace,
        "Dimensions": [dimensions],
        "Metrics": [_definition(name) for name in values],
    }
    return {
        "_aws": {"Timestamp": int(time.time() * 1000), "CloudWatchMetrics": [directive]},
        **values,  # EMF takes a single value as a plain number
    }


def _definition(name: str) -> dict[str, str]:
    """A metric's EMF definition; the unit only where it is not a count."""
    unit = _UNITS.get(name)
    return {"Name": name, "Unit": unit} if unit else {"Name": name}


_pending: dict[tuple[str | None, str | None], list[tuple[str, MetricUnit, float]]] = {}
_metrics_lock = threading.Lock()


def count(
    name: str, value: float = 1, *, app_id: str | None = None, platform: str | None = None
) -> None:
    """Add to a counter (PushDelivered, PushRetryQueued, PushExpired, ...) of an app."""
    with _metrics_lock:
        _pending.setdefault((app_id, platform), []).append((name, MetricUnit.Count, value))


def latency(milliseconds: float, *, app_id: str, platform: str) -> None:
    """How long the PNS took to answer."""
    with _metrics_lock:
        _pending.setdefault((app_id, platform), []).append(
            ("PnsLatency", MetricUnit.Milliseconds, milliseconds)
        )


def flush() -> None:
    """Write the invocation's metrics: one EMF line per (app, platform), none when idle."""
    with _metrics_lock:
        groups = list(_pending.items()) if _print_metrics else []
        _pending.clear()
        for (app_id, platform), values in groups:
            if app_id:
                metrics.add_dimension(name="app_id", value=app_id)
            if platform:
                metrics.add_dimension(name="platform", value=platform)
            for name, unit, value in values:
                metrics.add_metric(name=name, unit=unit, value=value)
            metrics.flush_metrics()
