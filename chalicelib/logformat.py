"""How a log record reads: JSON for CloudWatch (the default, and what Lambda writes), or one
readable line per event for a terminal (`LOG_FORMAT=text`, what `make run` / `make serve` use).

Both come from the same Powertools record, so the fields are the same; text only drops what a
terminal does not need (service name, full date) and keeps a traceback on the lines after.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

TIME_FORMAT = "%H:%M:%S"  # the terminal shows today's events; CloudWatch keeps the full date
_NOT_SHOWN = {"timestamp", "level", "message", "service", "sampling_rate", "stack_trace"}
_NOT_SHOWN |= {"exception", "exception_name"}  # the traceback follows on its own lines


def _value(value: object) -> str:
    if isinstance(value, str) and value and not any(c.isspace() or c in '"=' for c in value):
        return value
    return json.dumps(value, separators=(",", ":"), default=str, ensure_ascii=False)


def text_line(record: Mapping[str, object]) -> str:
    """`20:04:29 INFO    push delivered  app_id=com.example.sylk platform=apple ...`"""
    fields = " ".join(f"{k}={_value(v)}" for k, v in record.items() if k not in _NOT_SHOWN)
    line = (
        f"{record.get('timestamp', '')} {record.get('level', '')!s:<7} {record.get('message', '')}"
    )
    line = f"{line}  {fields}" if fields else line
    exception = record.get("exception")
    return f"{line}\n{exception}" if exception else line
