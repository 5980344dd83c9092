"""HTTP glue: body parsing, caller control and the response envelope around each use case.

Every answer, success or error, is `{"code", "description", "data"}` with `code` equal to
the HTTP status; an unexpected error is answered with a request id, never a traceback.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import re
import threading
import uuid
from collections.abc import Callable
from typing import Any

from chalice.app import Request, Response, SQSEvent

from . import audit, delivery, devices, expiry, pns, push_v1
from .answers import Answer
from .config import Config
from .errors import ApiError, ConfigError, Forbidden, InvalidRequest, PayloadTooLarge
from .retry.base import RetryMessage
from .runtime import Runtime
from .settings import Settings, SettingsError

MAX_BODY = 64 * 1024
CONTENT_TYPES = ["application/json", "text/plain", "application/x-www-form-urlencoded"]
VERSION = "0.1.0"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


_runtime: Runtime | None = None
_settings_error: SettingsError | None = None  # kept: logged once, answered on every call
_runtime_lock = threading.Lock()


def _redeliver(rt: Runtime, message: RetryMessage) -> None:
    """The retry queue's handler: one attempt of a queued push, its metrics written."""
    try:
        delivery.redeliver(rt, message)
    finally:
        audit.flush()


def current_runtime() -> Runtime:
    """Built on first use and kept for the life of the warm container. SettingsError when
    the environment is not usable: one ERROR line per container, the same error each call."""
    global _runtime, _settings_error
    if _runtime is None:
        with _runtime_lock:
            if _runtime is None and _settings_error is None:
                try:
                    _runtime = _start(Settings.from_env())
                except SettingsError as exc:
                    _settings_error = exc
                    audit.logger.error(
                        "settings not usable: every route answers 503",
                        extra={"problems": exc.problems},
                    )
            if _runtime is None:
                assert _settings_error is not None
                raise _settings_error
    return _runtime


def reset_runtime(settings: Settings) -> Runtime:
    """A fresh runtime (tests, and a process that changed its settings)."""
    global _runtime, _settings_error
    with _runtime_lock:
        if _runtime is not None:
            _runtime.close()
        _runtime, _settings_error = _start(settings), None
    return _runtime


def forget_runtime() -> None:
    """The next call starts again from the environment, as a cold start does."""
    global _runtime, _settings_error
    with _runtime_lock:
        if _runtime is not None:
            _runtime.close()
        _runtime, _settings_error = None, None


def _start(settings: Settings) -> Runtime:
    audit.logger.setLevel(settings.log_level)
    audit.use_format(settings.log_format)
    pns.configure(settings.pns)
    return Runtime(settings, _redeliver)


def settings_refused(error: SettingsError) -> Response:
    return envelope(503, f"settings not usable: {error}", {"settings": error.problems})


def usable(respond: Callable[[], Response]) -> Response:
    """A container with unusable settings answers 503 on every route, naming the problems."""
    try:
        current_runtime()
    except SettingsError as exc:
        return settings_refused(exc)
    return respond()


# The directories of an absolute path (not a URL's path: that follows a host or a colon)
_DIRECTORIES = re.compile(r"(?<![\w:/.-])/(?:[^\s/'\"]+/)+")


def without_paths(text: str) -> str:
    """`text` with the directories of every server path left out: an answer may name a
    file, never where the server keeps it."""
    return _DIRECTORIES.sub("", text)


def envelope(
    status: int, description: str, data: dict[str, Any] | list[Any] | None = None
) -> Response:
    body = {"code": status, "description": description, "data": {} if data is None else data}
    return Response(
        body=json.dumps(body, separators=(",", ":")),
        status_code=status,
        headers={"Content-Type": "application/json"},
    )


def answer(fn: Callable[[], Answer]) -> Response:
    """Run a use case and wrap whatever happens in the envelope."""
    try:
        return _answer(fn)
    finally:
        audit.flush()


def _answer(fn: Callable[[], Answer]) -> Response:
    try:
        result = fn()
    except ApiError as exc:
        return envelope(exc.status, exc.description, exc.data)
    except SettingsError as exc:
        return settings_refused(exc)
    except ConfigError as exc:
        return envelope(503, without_paths(f"configuration not usable: {exc}"))
    except Exception:
        request_id = str(uuid.uuid4())
        audit.logger.exception("unexpected error", extra={"error_id": request_id})
        return envelope(500, "internal error", {"error-id": request_id})
    return envelope(result.status, result.description, result.data)


def json_object(request: Request | None) -> dict[str, Any]:
    assert request is not None
    raw = request.raw_body or b""
    if len(raw) > MAX_BODY:
        raise PayloadTooLarge(f"body of {len(raw)} bytes is over the limit of {MAX_BODY}")
    if not raw.strip():
        raise InvalidRequest("empty body: a JSON object is required")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequest(f"body is not valid JSON: {exc}") from None
    except RecursionError:  # the parser's own depth guard: bad input, not a server fault
        raise InvalidRequest("body is not valid JSON: nested too deeply") from None
    if not isinstance(body, dict):
        raise InvalidRequest("body must be a JSON object")
    return body


def allowed(config: Config, request: Request) -> Config:
    """allowed_hosts (IP/CIDR) and the optional API key, checked before validation."""
    server = config.server
    expected_key = current_runtime().settings.api_key or server.api_key
    if expected_key:
        given = str(request.headers.get("x-api-key", "")) if request.headers else ""
        if not hmac.compare_digest(given.encode(), expected_key.encode()):
            raise Forbidden("access denied by access list")
    if server.allowed_hosts:
        identity: dict[str, Any] = (request.context or {}).get("identity") or {}
        source = str(identity.get("sourceIp", ""))
        try:
            address = ipaddress.ip_address(source)
        except ValueError:
            raise Forbidden("access denied by access list") from None
        if not any(address in net for net in server.allowed_hosts):
            raise Forbidden("access denied by access list")
    return config


def authorized_config(request: Request | None) -> Config:
    """The config, once the caller passed the access check (Forbidden otherwise)."""
    assert request is not None  # Chalice sets it for every route
    return allowed(current_runtime().config.get(), request)


def index() -> Response:
    return usable(lambda: envelope(200, "rtc-pushserver", {"version": VERSION}))


def unsupported_media_type(response: Response) -> Response:
    """Chalice's own 415 (a route's content_types not matched), in the envelope."""
    if response.status_code != 415 or not isinstance(response.body, dict):
        return response
    return envelope(
        415,
        f"unsupported media type: send the JSON body as {', '.join(CONTENT_TYPES)}",
        {"accepted": CONTENT_TYPES},
    )


def health(request: Request | None) -> Response:
    """Readiness per app. With access control on it obeys it like every route: what it
    shows (app ids, sections, auth types, reasons) is for the operator."""

    def check() -> Answer:
        source = current_runtime().config
        config = authorized_config(request)
        apps: dict[str, dict[str, Any]] = {
            f"{app.app_id} ({app.platform})": {
                "section": app.section,
                "type": app.app_type,
                "auth": _auth(app),
            }
            for app in config.apps.values()
        }
        unavailable = {section: without_paths(why) for section, why in config.broken.items()}
        warnings = [without_paths(warning) for warning in config.warnings]
        for app in config.apps.values():
            name = f"{app.app_id} ({app.platform})"
            try:
                pns.service_for(app)  # builds the warm client: proves the credentials load
                certificate = expiry.certificate_expiry(app)
            except ConfigError as exc:
                unavailable[app.section] = without_paths(str(exc))
                apps.pop(name, None)
                continue
            if certificate is not None:
                apps[name]["certificate"] = certificate.as_data()
                if certificate.expires_soon:
                    warnings.append(
                        f"{app.section}: APNs certificate expires in {certificate.days_left} "
                        f"days ({certificate.not_after:%Y-%m-%d})"
                    )
        data = {
            "version": VERSION,
            "apps": apps,
            "unavailable": unavailable,
            "warnings": warnings,
        }
        if source.error:
            data["reload-error"] = without_paths(source.error)
        if not config.apps:  # nothing to push to: not ready, whatever else is fine
            where = source.ssm_path or source.config_dir
            variable = "CONFIG_SSM_PATH" if source.ssm_path else "CONFIG_DIR"
            description = f"not ready: no apps configured in {where} ({variable})"
            return Answer(503, without_paths(description), data)
        return Answer(200, "degraded" if unavailable else "ok", data)

    return answer(check)


def openapi() -> Response:
    from .openapi import document

    return usable(
        lambda: Response(
            body=document(VERSION), status_code=200, headers={"Content-Type": "application/json"}
        )
    )


def _auth(app: Any) -> str:
    return f"apns-{app.apns_auth}" if app.platform == "apple" else "fcm-v1"


def push(request: Request | None) -> Response:
    return answer(
        lambda: push_v1.push(current_runtime(), authorized_config(request), json_object(request))
    )


def add_token(request: Request | None, account: str) -> Response:
    return answer(
        lambda: devices.add_token(
            current_runtime(), authorized_config(request), account, json_object(request)
        )
    )


def remove_token(request: Request | None, account: str) -> Response:
    def remove() -> Answer:
        authorized_config(request)
        return devices.remove_token(current_runtime(), account, json_object(request))

    return answer(remove)


def push_account(request: Request | None, account: str, device: str | None = None) -> Response:
    return answer(
        lambda: devices.push_account(
            current_runtime(), authorized_config(request), account, json_object(request), device
        )
    )


def _called_path(request: Request | None) -> str:
    """The path as called (API Gateway's `path` has no stage prefix; chalice local's event
    has only `requestContext.path`)."""
    assert request is not None
    return str(request.to_original_event().get("path") or request.context.get("path") or "/")


def not_found(request: Request | None, routes: dict[str, list[str]]) -> Response:
    path = _called_path(request)
    listing = [f"{method} {route}" for route, methods in routes.items() for method in methods]
    return usable(
        lambda: envelope(
            404,
            f"no route {path}; the routes are: {', '.join(listing)}",
            {"path": path, "routes": listing},
        )
    )


def method_not_allowed(request: Request | None, routes: dict[str, list[str]]) -> Response:
    assert request is not None
    path, allowed = _called_path(request), routes[request.path]
    answer = envelope(
        405,
        f"{request.method} is not allowed on {path}; allowed: {', '.join(allowed)}",
        {"method": request.method, "path": path, "allowed": allowed},
    )
    answer.headers["Allow"] = ", ".join(allowed)
    return usable(lambda: answer)


def check_credentials() -> None:
    """The daily scheduled check of every app's credentials (see expiry.py)."""
    try:
        expiry.check(current_runtime().config.get())
    finally:
        audit.flush()


class RetryBatchFailed(RuntimeError):
    """Some messages of a batch failed and the mapping cannot be told which."""


def retry_batch(event: SQSEvent) -> dict[str, list[dict[str, str]]]:
    """The retry queue's consumer: a partial batch response, so one failing message is
    redelivered (and dead-lettered after maxReceiveCount) without repeating the others."""
    from .retry import sqs

    handler = current_runtime().retry_handler
    handler.register_lambda_context(event.context)
    try:
        result = sqs.consume(sqs.event_records(event), handler)
        failed = result["batchItemFailures"]
        if failed:
            audit.count("RetryBatchFailures", len(failed))
            if not current_runtime().settings.partial_batch_responses:
                # A mapping without partial batch responses ignores the list and deletes the
                # whole batch: fail it instead, so SQS delivers it again; the messages pushed
                # this time are then skipped (idempotency), the failed ones tried again.
                raise RetryBatchFailed(f"{len(failed)} retries failed: the batch is redelivered")
        return result
    finally:
        audit.flush()
