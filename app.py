"""rtc-pushserver routes: each maps an HTTP call to one use case in chalicelib."""

from chalice import Chalice, Response

from chalicelib import api

app = Chalice(app_name="rtc-pushserver", configure_logs=False)


@app.route("/", methods=["GET"])
def index() -> Response:
    return api.index()


@app.route("/health", methods=["GET"])
def health() -> Response:
    return api.health()


@app.route("/push", methods=["POST"], content_types=api.CONTENT_TYPES)
def push() -> Response:
    return api.push(app.current_request)
