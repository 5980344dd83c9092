"""rtc-pushserver routes: each maps an HTTP call to one use case in chalicelib."""

from collections.abc import Callable

from chalice.app import Chalice, CloudWatchEvent, Rate, Request, Response, SQSEvent

from chalicelib import api
from chalicelib.settings import deploy_stage, gateway_api_keys, retry_queue_name

app = Chalice(app_name="rtc-pushserver", configure_logs=False)
# JSON in, JSON out: no binary media types, so no request or answer is matched against
# Chalice's default list of them (three scans of it per request)
app.api.binary_types = []


@app.middleware("http")
def envelope_chalice_errors(
    request: Request, get_response: Callable[[Request], Response]
) -> Response:
    return api.unsupported_media_type(get_response(request))


@app.route("/", methods=["GET"])
def index() -> Response:
    return api.index()


@app.route("/health", methods=["GET"])
def health() -> Response:
    return api.health(app.current_request)


@app.route("/openapi.json", methods=["GET"])
def openapi() -> Response:
    return api.openapi()


@app.route("/push", methods=["POST"], content_types=api.CONTENT_TYPES)
def push() -> Response:
    return api.push(app.current_request)


@app.route("/v2/tokens/{account}", methods=["POST"], content_types=api.CONTENT_TYPES)
def add_token(account: str) -> Response:
    return api.add_token(app.current_request, account)


@app.route("/v2/tokens/{account}", methods=["DELETE"], content_types=api.CONTENT_TYPES)
def remove_token(account: str) -> Response:
    return api.remove_token(app.current_request, account)


@app.route("/v2/tokens/{account}/push", methods=["POST"], content_types=api.CONTENT_TYPES)
def push_account(account: str) -> Response:
    return api.push_account(app.current_request, account)


@app.route("/v2/tokens/{account}/push/{device}", methods=["POST"], content_types=api.CONTENT_TYPES)
def push_device(account: str, device: str) -> Response:
    return api.push_account(app.current_request, account, device)


# Known paths with other methods, and every other path, answer in the envelope too: left
# to them, API Gateway and chalice local would answer in their own formats.
ROUTES = {path: sorted(entries) for path, entries in app.routes.items()}
for path, methods in ROUTES.items():
    app.route(
        path,
        methods=[m for m in api.METHODS if m not in methods],
        content_types=["*/*"],
        name=f"wrong_method {path}",
    )(lambda **_: api.method_not_allowed(app.current_request, ROUTES))


@app.route("/{proxy+}", methods=list(api.METHODS), content_types=["*/*"])
def unknown_route() -> Response:
    return api.not_found(app.current_request, ROUTES)


# A stage with API_GATEWAY_KEYS=true: API Gateway refuses a call without a key of the
# stage's usage plan (per-caller quotas) before any function runs.
if gateway_api_keys():
    for entries in app.routes.values():
        for entry in entries.values():
            entry.api_key_required = True


# The stage's own queue: chalice package and deploy import this file with the stage's
# environment (STAGE), so each stage's event source reads its own queue. A batch's messages
# are sent at once as streams of the warm connections, so a batch of 100 costs about the
# round trip of one; gathering it for up to a second is what a retry can afford.
@app.on_sqs_message(
    queue=retry_queue_name(deploy_stage()),
    batch_size=100,
    maximum_batching_window_in_seconds=1,
    name="retry_pushes",
)
def retry_pushes(event: SQSEvent) -> dict[str, list[dict[str, str]]]:
    return api.retry_batch(event)


@app.schedule(Rate(1, unit=Rate.DAYS), name="check_credentials")
def check_credentials(event: CloudWatchEvent) -> None:
    api.check_credentials()
