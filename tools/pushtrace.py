"""``pushclient trace CALL-ID [--since 1h]``: the story of one push, every attempt in order.

Locally it reads the JSON log file ``make run`` writes (``.run/logs/pushserver.jsonl``, or
``--log-file``). With ``--stage`` it runs the stage's call-trace query (the one saved in
infra/observability.json) through CloudWatch Logs Insights over the API and retry functions'
log groups, with the AWS credentials and region of the environment.

Standard library only (Python >= 3.9); boto3 is imported for ``--stage`` alone.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

Line = dict[str, Any]

PLACEHOLDER = "CALL-ID"
# The saved query "rtc-pushserver-<stage>/call-trace"; a test keeps the two identical.
TRACE_QUERY = (
    "fields @timestamp, @log, message, attempt, status, reason, latency_ms, next_attempt, "
    "delay_s, @message\n"
    f'| filter call_id = "{PLACEHOLDER}"\n'
    "| sort @timestamp asc"
)
FUNCTIONS = (
    "api",
    "retry_pushes",
)  # the log group of each: /aws/lambda/rtc-pushserver-<stage>-<fn>
DEFAULT_LOG_FILE = Path(".run/logs/pushserver.jsonl")
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S,%f%z"  # Powertools' default
QUERY_TIMEOUT = 60.0
_SINCE = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class TraceError(Exception):
    """The trace could not be read (missing file, CloudWatch refused or failed the query)."""


def log_groups(stage: str) -> list[str]:
    return [f"/aws/lambda/rtc-pushserver-{stage}-{name}" for name in FUNCTIONS]


def trace_query(call_id: str) -> str:
    escaped = call_id.replace("\\", "\\\\").replace('"', '\\"')
    return TRACE_QUERY.replace(PLACEHOLDER, escaped)


def since_seconds(text: str) -> int:
    match = _SINCE.match(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 90s, 30m, 1h or 2d")
    return int(match.group(1)) * _UNITS[match.group(2)]


_UTC = dt.timezone.utc  # noqa: UP017 (datetime.UTC is Python 3.11+; this runs on 3.9)
_NEVER = dt.datetime.min.replace(tzinfo=_UTC)  # sorts a line without a time first


def when(line: Line) -> dt.datetime | None:
    """The line's time: Powertools' `timestamp`, or on a line carrying EMF metrics, which
    leaves that out, the EMF `_aws.Timestamp` (epoch milliseconds)."""
    emf = line.get("_aws")
    if "timestamp" not in line and isinstance(emf, dict) and isinstance(emf.get("Timestamp"), int):
        return dt.datetime.fromtimestamp(emf["Timestamp"] / 1000, _UTC)
    try:
        return dt.datetime.strptime(str(line.get("timestamp", "")), TIMESTAMP_FORMAT)
    except ValueError:
        return None


def read_file(path: Path, call_id: str, since: int) -> list[Line]:
    """The call's lines of a JSON log file, from the last `since` seconds."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise TraceError(f"cannot read {path}: {error.strerror or error}") from None
    utc = dt.timezone.utc  # noqa: UP017 (datetime.UTC is Python 3.11+; this runs on 3.9)
    start = dt.datetime.now(utc) - dt.timedelta(seconds=since)
    lines = []
    for raw in text.splitlines():
        try:
            line = json.loads(raw)
        except ValueError:
            continue  # a line cut short by a crash
        if isinstance(line, dict) and line.get("call_id") == call_id:
            stamp = when(line)
            if stamp is None or stamp >= start:
                lines.append(line)
    return lines


def query_cloudwatch(
    stage: str, call_id: str, since: int, client: Any = None, poll: float = 0.5
) -> list[Line]:
    """The call's lines, found by the call-trace query over the stage's log groups."""
    if client is None:
        import boto3

        client = boto3.client("logs")
    now = int(time.time())
    try:
        query_id = client.start_query(
            logGroupNames=log_groups(stage),
            startTime=now - since,
            endTime=now + 60,
            queryString=trace_query(call_id),
            limit=10000,
        )["queryId"]
        deadline = time.monotonic() + QUERY_TIMEOUT
        while True:
            answer = client.get_query_results(queryId=query_id)
            if answer["status"] not in ("Scheduled", "Running"):
                break
            if time.monotonic() > deadline:
                raise TraceError(f"the query did not finish in {QUERY_TIMEOUT:.0f} s")
            time.sleep(poll)
    except TraceError:
        raise
    except Exception as error:  # botocore's ClientError and connection errors
        raise TraceError(f"CloudWatch Logs: {error}") from None
    if answer["status"] != "Complete":
        raise TraceError(f"the query ended {answer['status']}")
    lines = [_row_line(row) for row in answer["results"]]
    # An emulator may not filter: keep only this call's lines either way
    return [line for line in lines if line.get("call_id") == call_id]


def _row_line(row: list[dict[str, str]]) -> Line:
    fields = {cell["field"]: cell["value"] for cell in row}
    try:
        line = json.loads(fields.get("@message", ""))
    except ValueError:
        line = None
    line = line if isinstance(line, dict) else dict(fields)
    group = fields.get("@log", "")  # "<account>:/aws/lambda/rtc-pushserver-<stage>-<function>"
    line["function"] = next((f for f in FUNCTIONS if group.endswith(f"-{f}")), "")
    return line


def describe(line: Line) -> str:
    message = str(line.get("message", ""))
    status = line.get("status")
    reason = line.get("reason")
    if message.startswith("push ") and message != "push expired":
        text = message[len("push ") :]
        if status:
            text += f", PNS {status}"
        if reason:
            text += f": {reason}"
        if line.get("latency_ms") is not None:
            text += f" ({line['latency_ms']} ms)"
        return text
    if message == "retry queued":
        return f"attempt {line.get('next_attempt')} queued, in {line.get('delay_s')} s"
    if message == "push expired":
        return f"expired after {line.get('attempts')} attempts" + (f": {reason}" if reason else "")
    level = str(line.get("level", "INFO"))
    return (f"{level}: " if level != "INFO" else "") + message + (f": {reason}" if reason else "")


def outcome(lines: list[Line]) -> str:
    verdicts = [line for line in lines if str(line.get("message", "")).startswith("push ")]
    if not verdicts:
        return "no attempt logged"
    last = verdicts[-1]
    message = str(last["message"])
    if message == "push expired":
        return f"expired after {last.get('attempts')} attempts"
    attempt = int(last.get("attempt") or 1)
    verdict = message[len("push ") :]
    retries = f" ({attempt - 1} retries)" if attempt > 1 else ""
    if verdict == "retry":
        if any(line.get("message") == "retry queued" for line in lines[lines.index(last) :]):
            return f"waiting for attempt {attempt + 1}{retries}"
        return f"failed at attempt {attempt}, not queued{retries}"
    return f"{verdict} at attempt {attempt}{retries}"


def story(call_id: str, lines: list[Line]) -> list[str]:
    ordered = sorted(lines, key=lambda line: when(line) or _NEVER)
    first = ordered[0]
    head = f"call {call_id}"
    for key in ("app_id", "platform", "account", "request_id"):
        if first.get(key):
            head += f"  {key}={first[key]}"
    out = [head]
    for line in ordered:
        stamp = when(line)
        clock = stamp.strftime("%H:%M:%S.%f")[:-3] if stamp else "?"
        where = f"{line['function']:<13}" if line.get("function") else ""
        attempt = f"#{line['attempt']}" if line.get("attempt") is not None else "  "
        out.append(f"  {clock}  {where}{attempt:>3}  {describe(line)}")
    out.append(f"outcome: {outcome(ordered)}")
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pushclient trace", description="Tell the story of one push, every attempt in order."
    )
    parser.add_argument("call_id", metavar="CALL-ID")
    parser.add_argument(
        "--since", type=since_seconds, default=3600, help="how far back: 90s, 30m, 1h (default), 2d"
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--stage", help="query this deployed stage's logs in CloudWatch")
    source.add_argument(
        "--log-file",
        type=Path,
        default=DEFAULT_LOG_FILE,
        help=f"the local JSON log (default {DEFAULT_LOG_FILE})",
    )
    return parser


def main(argv: list[str]) -> int:
    """`argv` without the leading "trace"; 0 when the call was found, 1 when not, 2 on error."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else 2
    try:
        if args.stage:
            lines = query_cloudwatch(args.stage, args.call_id, args.since)
        else:
            lines = read_file(args.log_file, args.call_id, args.since)
    except TraceError as error:
        print(f"trace failed: {error}", file=sys.stderr)
        return 2
    if not lines:
        print(f"no log line for call {args.call_id} in the last {args.since} s")
        return 1
    print("\n".join(story(args.call_id, lines)))
    return 0
