"""rtc-pushserver routes: each maps an HTTP call to one use case in chalicelib."""

from chalice.app import Chalice, Response, SQSEvent

from chalicelib import api

app = Chalice(app_name="rtc-pushserver", configure_logs=False)


@app.route("/", methods=["GET"])
def index() -> Response:
    return api.index()


@app.route("/health", methods=["GET"])
def health() -> Response:
    return api.health()


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


@app.on_sqs_message(queue="rtc-push-retries", batch_size=10, name="retry_pushes")
def retry_pushes(event: SQSEvent) -> dict[str, list[dict[str, str]]]:
    return api.retry_batch(event)
