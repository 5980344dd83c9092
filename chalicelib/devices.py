"""API v2 use cases: device tokens stored per account, and pushes to an account's devices."""

from __future__ import annotations

import time
import unicodedata
from typing import Any
from urllib.parse import unquote

from . import audit
from .answers import Answer
from .apps import split_token
from .config import Config
from .delivery import Job, accept, deliver, new_job, settle, validate
from .errors import InvalidRequest, NotFound
from .models import (
    MAX_ACCOUNT,
    AccountPushRequest,
    TokenAddRequest,
    TokenRemoveRequest,
    clean_device_id,
    parse,
)
from .runtime import Runtime
from .tokens.base import Device


def account_of(raw: str) -> str:
    """The account of a path, URL-decoded and trimmed; 400 saying what is wrong with it."""
    decoded = unquote(raw)
    account = decoded.strip()
    problem = None
    if any(unicodedata.category(char) == "Cc" for char in decoded):
        problem = "account must not contain control characters"
    elif not account:
        problem = "account is empty"
    elif len(account) > MAX_ACCOUNT:
        problem = f"account is {len(account)} characters long; at most {MAX_ACCOUNT} are allowed"
    if problem:
        raise InvalidRequest(problem, {"account": raw[:MAX_ACCOUNT]})
    return account


def _not_configured(platform: str, app_id: str) -> NotFound:
    return NotFound(
        f"{platform.capitalize()} {app_id} app is not configured",
        {"app-id": app_id, "platform": platform},
    )


def add_token(rt: Runtime, config: Config, raw_account: str, body: dict[str, Any]) -> Answer:
    """`POST /v2/tokens/{account}`: store (upsert) one device of the account."""
    account = account_of(raw_account)
    req = parse(TokenAddRequest, body)
    if config.app(req.app_id, req.platform) is None:
        raise _not_configured(req.platform, req.app_id)
    token, background = req.token, None
    if req.platform == "apple":
        token, background = split_token(req.token)
    device = Device(
        account,
        req.app_id,
        req.device_id,
        req.platform,
        token,
        background or None,
        req.silent,
        req.user_agent,
        time.time(),
    )
    rt.tokens.upsert(device)
    audit.log(
        "device stored",
        account=account,
        app_id=req.app_id,
        device_id=req.device_id,
        platform=req.platform,
    )
    data = {
        "app-id": device.app_id,
        "platform": device.platform,
        "token": audit.mask(device.token),
        "device-id": device.device_id,
        "silent": device.silent,
        "user-agent": device.user_agent,
    }
    return Answer(200, "device token stored", {k: v for k, v in data.items() if v is not None})


def remove_token(rt: Runtime, raw_account: str, body: dict[str, Any]) -> Answer:
    """`DELETE /v2/tokens/{account}`: forget one device of the account."""
    account = account_of(raw_account)
    req = parse(TokenRemoveRequest, body)
    data = {"app-id": req.app_id, "device-id": req.device_id}
    if rt.tokens.remove(account, req.app_id, req.device_id):
        audit.log("device removed", account=account, app_id=req.app_id, device_id=req.device_id)
        return Answer(200, "device token removed", data)
    if not rt.tokens.devices(account):
        raise NotFound("user not found", {"account": account})
    raise NotFound("device not found", data)


def _device_job(
    config: Config, account: str, device: Device, fields: dict[str, Any]
) -> Job | dict[str, Any]:
    """The push job of one stored device, or its own error result (the others still go)."""
    base = {
        "platform": device.platform,
        "app-id": device.app_id,
        "device-id": device.device_id,
        "call-id": fields.get("call-id"),
    }
    app = config.app(device.app_id, device.platform)
    if app is None:
        return {"code": 404, "reason": str(_not_configured(device.platform, device.app_id)), **base}
    token = f"{device.token}-{device.background_token}" if device.background_token else device.token
    merged = {
        **fields,
        "app-id": device.app_id,
        "platform": device.platform,
        "token": token,
        "device-id": device.device_id,
        "silent": device.silent,
    }
    try:
        return new_job(app, validate(app, merged), account)
    except InvalidRequest as exc:
        return {"code": 400, "reason": exc.description, **{k: v for k, v in base.items() if v}}


def _accepted(job: Job, description: str) -> dict[str, Any]:
    """The result of a push queued for delivery (`return_async = false`)."""
    req = job.request
    return {
        "code": 202,
        "reason": description,
        "platform": job.app.platform,
        "app-id": job.app.app_id,
        "device-id": req.device_id,
        "call-id": req.call_id,
    }


def push_account(
    rt: Runtime,
    config: Config,
    raw_account: str,
    body: dict[str, Any],
    device_id: str | None = None,
) -> Answer:
    """`POST /v2/tokens/{account}/push[/{device}]`: push to the account's devices at once."""
    account = account_of(raw_account)
    req = parse(AccountPushRequest, body)
    devices = rt.tokens.devices(account)
    if not devices:
        raise NotFound("Push request was not sent: user not found", {"account": account})
    if device_id is not None:
        wanted = clean_device_id(unquote(device_id))
        devices = [d for d in devices if d.device_id == wanted]
        if not devices:
            raise NotFound(
                "Push request was not sent: device not found",
                {"account": account, "device-id": wanted},
            )
    fields = req.model_dump(by_alias=True, exclude_none=True)
    prepared = [_device_job(config, account, device, fields) for device in devices]
    jobs = [p for p in prepared if isinstance(p, Job)]
    if not config.server.return_async:
        accepted = accept(rt, jobs)
        if len(jobs) == len(prepared):
            return accepted
        # what could not be accepted is reported per device, as when pushing at once
        queued = iter([_accepted(job, accepted.description) for job in jobs])
        results = [next(queued) if isinstance(p, Job) else p for p in prepared]
        if not jobs:
            return Answer(200, "push notification responses", results)
        return Answer(202, accepted.description, results)
    settled = iter(settle(rt, jobs, deliver(jobs)))
    results = [next(settled) if isinstance(p, Job) else p for p in prepared]
    return Answer(200, "push notification responses", results)
