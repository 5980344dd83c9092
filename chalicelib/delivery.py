"""The delivery of push jobs: build each notification, send it, judge the outcome, settle it
(queue the retry, forget the dead token, log the expiry). Shared by the v1 and v2 use cases
and the retry queue's handler."""

from __future__ import annotations

import logging
import random
import time
import uuid
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from pydantic import ValidationError

from . import audit, remote_log, tracing
from .answers import Answer, push_status
from .apps import select_token, split_token
from .apps.base import PayloadTooLargeError
from .config import AppConfig
from .errors import ConfigError, StorageUnavailable
from .models import PushRequest, field_errors, invalid, json_key
from .notification import Notification
from .pns import Outcome, Verdict, reload_credentials_if_refused, send_many, service_for
from .retry import policy
from .retry.base import RetryMessage
from .runtime import Runtime

APNS_ID_NAMESPACE = uuid.UUID("8a3c9f40-5b7e-4d0e-9a43-6f1f2b0c7d55")
VERDICT_METRICS = {
    Verdict.DELIVERED: "PushDelivered",
    Verdict.DEAD_TOKEN: "PushDeadToken",
    Verdict.RETRY: "PushFailedRetryable",
    Verdict.REJECTED: "PushRejected",
}


@dataclass(frozen=True)
class Job:
    """One push to one device, as tried now or later from the retry queue."""

    app: AppConfig
    request: PushRequest
    deadline: float  # epoch seconds after which the push is useless
    account: str | None = None
    attempt: int = 1

    @property
    def request_id(self) -> str:
        """As in the original's logs: `<event>-<app-id or account>-<call-id>`."""
        return f"{self.request.event}-{self.account or self.app.app_id}-{self.request.call_id}"

    def log_fields(self) -> dict[str, Any]:
        """The correlation fields one Logs Insights query follows a push by."""
        return {
            "call_id": self.request.call_id,
            "request_id": self.request_id,
            "account": self.account,
            "app_id": self.app.app_id,
            "platform": self.app.platform,
            "attempt": self.attempt,
        }

    @property
    def token(self) -> str:
        """The one token this push goes to (of an Apple pair, the half its event uses)."""
        return select_token(self.request.token, self.request.event or "", self.app.platform)

    @cached_property
    def apns_id(self) -> str | None:
        """Stable across retries, so a retried push is recognisable as the same one."""
        if self.app.platform != "apple":
            return None
        req = self.request
        return str(
            uuid.uuid5(
                APNS_ID_NAMESPACE, f"{req.call_id}\n{req.event}\n{req.device_id or req.token}"
            )
        )


# Stand-ins for bad or missing required fields, so the app type's rules see the rest
_STAND_INS = {"call-id": "-", "from": "-", "to": "-", "token": "-"}


def problems(
    app: AppConfig | None, body: dict[str, Any]
) -> tuple[PushRequest | None, dict[str, str]]:
    """Every bad field of a push body in one round: the models' findings, and the app type's
    rules, checked on the good fields even when others are bad."""
    try:
        request: PushRequest | None = PushRequest.model_validate(body)
        errors: dict[str, str] = {}
    except ValidationError as exc:
        request, errors = None, field_errors(PushRequest, exc)
    checked = request or (_good_fields(app, body, errors) if app else None)
    if app is not None and checked is not None:
        for key, message in app.builder.check(checked).items():
            errors.setdefault(key, message)  # the models' finding about a field comes first
    return request, errors


def _good_fields(app: AppConfig, body: dict[str, Any], bad: dict[str, str]) -> PushRequest | None:
    """`body` without its bad fields, required ones stood in for: what the app type checks."""
    good = {k: v for k, v in body.items() if json_key(k) not in bad}
    stand_ins = {k: v for k, v in _STAND_INS.items() if k in bad}
    names = {"app-id": app.app_id, "platform": app.platform}
    try:
        return PushRequest.model_validate({**good, **stand_ins, **names})
    except ValidationError:
        return None  # nothing left to check the app type's rules on


def validate(app: AppConfig, body: dict[str, Any]) -> PushRequest:
    """Field validation plus the app type's rules, every bad field in one message."""
    request, errors = problems(app, body)
    if errors or request is None:
        raise invalid(errors)
    if request.event is None:  # linphone's only event is the default
        request = request.model_copy(update={"event": "incoming_session"})
    return request


def new_job(app: AppConfig, request: PushRequest, account: str | None = None) -> Job:
    assert request.event is not None
    return Job(app, request, time.time() + app.deadline(request.event), account)


def result(job: Job, outcome: Outcome) -> dict[str, Any]:
    """The per-device result object of the contract (null-free)."""
    req = job.request
    data: dict[str, Any] = {
        "code": push_status(outcome),
        "reason": outcome.reason,
        "url": outcome.url.replace(job.token, audit.mask(job.token)),  # APNs: token in path
        "platform": job.app.platform,
        "app-id": job.app.app_id,
        "device-id": req.device_id,
        "call-id": req.call_id,
        "token": audit.mask(job.token),
        "body": outcome.body,
        "apns-id": outcome.apns_id,
    }
    return {k: v for k, v in data.items() if v is not None}


def _prepare(job: Job) -> tuple[Notification | None, Outcome | None]:
    """The notification to send, or the outcome that stops it before sending."""
    try:
        notification = job.app.builder.build(job.request, deadline=job.deadline, now=time.time())
    except PayloadTooLargeError as exc:
        return None, Outcome(Verdict.REJECTED, 413, f"PayloadTooLarge - {exc}", "")
    return notification, None


def deliver(jobs: list[Job], *, multiplexed: bool = False) -> list[Outcome]:
    """Send each job once (plus the services' immediate retry); one job goes through the
    cheaper sync client, several through concurrent HTTP/2 streams, and so does one job
    `multiplexed` with what other threads send (the messages of a retry batch)."""
    outcomes: list[Outcome | None] = [None] * len(jobs)
    pending: list[tuple[int, Any, Notification, str | None]] = []
    for index, job in enumerate(jobs):
        notification, stopped = _prepare(job)
        if stopped is not None:
            outcomes[index] = stopped
            continue
        assert notification is not None
        try:
            service = service_for(job.app)
        except ConfigError as exc:
            outcomes[index] = Outcome(Verdict.REJECTED, 0, str(exc), "")
            continue
        pending.append((index, service, notification, job.apns_id))
    with tracing.span("## deliver"):
        if len(pending) == 1 and not multiplexed:
            index, service, notification, apns_id = pending[0]
            outcomes[index] = service.send(notification, apns_id)
        elif pending:
            sent = send_many([(s, n, a) for _, s, n, a in pending])
            for (index, *_), outcome in zip(pending, sent, strict=True):
                outcomes[index] = outcome
    final = [o for o in outcomes if o is not None]
    for job, outcome in zip(jobs, final, strict=True):
        log_outcome(job, outcome)
        if reload_credentials_if_refused(job.app, outcome):
            audit.count("CredentialsRefused", app_id=job.app.app_id, platform=job.app.platform)
            audit.count("CredentialsRefused")  # stage-wide, for the alarm
            audit.log("credentials refused: read again", logging.WARNING, **job.log_fields())
    for index, _, notification, apns_id in pending:
        job = jobs[index]
        if job.app.log_remote_urls:
            entry = remote_log.record(job.app, job.request, notification, final[index], apns_id)
            remote_log.poster.submit(job.app, entry)
    return final


def log_outcome(job: Job, outcome: Outcome) -> None:
    req = job.request
    level = (
        logging.INFO
        if outcome.verdict in (Verdict.DELIVERED, Verdict.DEAD_TOKEN)
        else logging.WARNING
    )
    counted: dict[str, float] = {VERDICT_METRICS[outcome.verdict]: 1}
    if outcome.latency_ms is not None and outcome.status:
        counted["PnsLatency"] = outcome.latency_ms
    fields = job.log_fields()
    audit.log(
        f"push {outcome.verdict}",
        level,
        metrics=counted,
        **fields,  # its request_id starts with the event
        device_id=req.device_id,
        token=audit.mask(job.token),
        status=outcome.status,
        reason=outcome.reason or None,
        apns_id=outcome.apns_id,
        latency_ms=outcome.latency_ms,
    )
    tracing.push_traced(fields, str(outcome.verdict), outcome.latency_ms)


def message_for(job: Job, attempt: int, last_reason: str | None = None) -> RetryMessage:
    req = job.request.model_dump(by_alias=True, exclude_none=True)
    push_id = job.apns_id or str(
        uuid.uuid5(APNS_ID_NAMESPACE, f"{job.app.app_id}\n{job.request_id}\n{job.request.token}")
    )
    return RetryMessage(
        push_id,
        job.app.app_id,
        job.app.platform,
        req,
        job.deadline,
        attempt,
        job.account,
        job.request_id,
        last_reason,
    )


def settle(
    rt: Runtime, jobs: list[Job], outcomes: list[Outcome], *, from_queue: bool = False
) -> list[dict[str, Any]]:
    """After an attempt: queue what is worth retrying, forget dead tokens of stored devices,
    log what expired. Returns the result object of each job.

    A retry that cannot be queued is answered as failed to a caller; `from_queue` (the retry
    consumer, which has no caller) raises StorageUnavailable instead, so that the queue
    delivers the message again rather than losing the push."""
    results = []
    now = time.time()
    for job, outcome in zip(jobs, outcomes, strict=True):
        data = result(job, outcome)
        # the lines written here carry the push's fields; a delivered push writes none
        if outcome.verdict is Verdict.RETRY:
            with audit.correlation(**job.log_fields()):
                data.update(_queue_retry(rt, job, outcome, now, from_queue))
        elif outcome.verdict is Verdict.DEAD_TOKEN and job.account is not None:
            with audit.correlation(**job.log_fields()):
                _forget_device(rt, job)
        results.append(data)
    return results


def _queue_retry(
    rt: Runtime, job: Job, outcome: Outcome, now: float, from_queue: bool
) -> dict[str, Any]:
    delay = policy.next_delay(
        job.attempt + 1,
        now=now,
        deadline=job.deadline,
        retry_after=outcome.retry_after,
        draw=random.random(),  # full jitter: spreads retries, not a secret
        margin=rt.retry_queue.due_margin,
    )
    if delay is None:
        _log_expired(job, job.attempt, outcome.reason)
        return {"reason": f"{outcome.reason} (expired after {job.attempt} attempts)"}
    try:
        rt.retry_queue.enqueue(message_for(job, job.attempt + 1, outcome.reason), delay)
    except StorageUnavailable as exc:
        audit.log("retry not queued", logging.ERROR, reason=str(exc))
        if from_queue:
            raise
        return {}
    audit.log(
        "retry queued",
        metrics={"PushRetryQueued": 1},
        next_attempt=job.attempt + 1,
        delay_s=round(delay, 3),
    )
    retry = {
        "attempt": job.attempt + 1,
        "next_attempt_in": round(delay, 3),
        "deadline": int(job.deadline),
    }
    return {"code": 202, "retry": retry}


def _log_expired(job: Job, attempts: int, reason: str | None = None) -> None:
    """A push past its deadline: never dropped silently."""
    audit.count("PushExpired")  # stage-wide, for the alarm (per app: in the line below)
    audit.log(
        "push expired",
        logging.WARNING,
        metrics={"PushExpired": 1},
        **job.log_fields(),
        attempts=attempts,
        reason=reason,
    )


def _forget_device(rt: Runtime, job: Job) -> None:
    """Only the token that failed is judged, and only while the device still has it: a dead
    regular token of an Apple pair leaves the device its VoIP token; a dead VoIP token (or
    a device's only token) removes the device, which can no longer ring."""
    req = job.request
    assert job.account is not None and req.device_id is not None
    dead = job.token
    voip, regular = split_token(req.token) if job.app.platform == "apple" else (req.token, None)
    key = (job.account, job.app.app_id, req.device_id)
    try:
        if regular is not None and dead == regular != voip:
            if rt.tokens.forget_background_if(*key, dead):
                audit.log("background token removed: token is dead", device_id=req.device_id)
            return
        removed = rt.tokens.remove_if_token(*key, dead)
    except StorageUnavailable as exc:
        audit.log("dead token not removed", logging.ERROR, reason=str(exc))
        return
    if removed:
        audit.log(
            "device removed: token is dead", metrics={"DeviceRemoved": 1}, device_id=req.device_id
        )


def accept(rt: Runtime, jobs: list[Job]) -> Answer:
    """`return_async = false`: queue every push at once and answer 202."""
    for job in jobs:
        rt.retry_queue.enqueue(message_for(job, job.attempt), 0)
    return Answer(202, "accepted for delivery")


def redeliver(rt: Runtime, message: RetryMessage) -> None:
    """One attempt of a queued push (the retry queue's handler)."""
    app = rt.config.get().app(message.app_id, message.platform)  # type: ignore[arg-type]
    if app is None:
        audit.log(
            "queued push dropped: app no longer configured", logging.ERROR, app_id=message.app_id
        )
        return
    request = PushRequest.model_validate(message.request)
    job = Job(app, request, message.deadline, message.account, message.attempt)
    if time.time() >= job.deadline:
        _log_expired(job, job.attempt - 1, message.last_reason)
        return
    settle(rt, [job], deliver([job], multiplexed=True), from_queue=True)
