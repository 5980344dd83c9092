"""`make serve` / `make run`: the API on chalice's local server, as `chalice local` runs it,
plus what someone at a terminal needs:

- at start, which apps the config has and where it was read (no apps: said at once, and
  `/health` answers 503);
- a port already in use: one line naming who holds it, exit status 1;
- logs as one readable line per event (`LOG_FORMAT=text` unless set; EMF metrics, meant for
  CloudWatch, are not printed then), and an access line only for a request that logged
  nothing itself;
- greedy routes (`/{proxy+}`) matched at any depth, as API Gateway does: chalice's local
  route matcher only matches them one segment deep (aws/chalice#2118).
"""

from __future__ import annotations

import argparse
import errno
import json
import logging
import os
import sys
import threading
from contextlib import suppress
from functools import partial
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from chalice.app import Chalice
from chalice.cli.factory import CLIFactory
from chalice.config import Config as ChaliceConfig
from chalice.deploy.validate import validate_routes
from chalice.local import (
    ChaliceRequestHandler,
    LambdaEventConverter,
    LocalDevServer,
    LocalGateway,
    MatchResult,
    RouteMatcher,
    create_local_server,
)

from tools.ports import is_free, taken

ROOT = Path(__file__).resolve().parent.parent


class GreedyRouteMatcher(RouteMatcher):
    """Chalice's matcher, then `/prefix/{name+}` for any deeper path under its prefix."""

    def match_route(self, url: str) -> MatchResult:
        try:
            return super().match_route(url)
        except ValueError:
            parsed = urlparse(url)
            path = parsed.path.rstrip("/")
            for route in self.route_urls:
                prefix, _, last = route.rpartition("/")
                if last.endswith("+}") and path.startswith(f"{prefix}/"):
                    captured = {last[1:-1]: path[len(prefix) + 1 :]}
                    query = parse_qs(parsed.query, keep_blank_values=True)
                    return MatchResult(route, captured, query)
            raise


class _Request(threading.local):
    logged = False


_request = _Request()


class _NoteLogged(logging.Filter):
    """Marks the current request as logged (each request has its own thread)."""

    def filter(self, record: logging.LogRecord) -> bool:
        _request.logged = True
        return True


class RequestHandler(ChaliceRequestHandler):
    def __init__(
        self,
        request: Any,
        client_address: tuple[str, int],
        server: HTTPServer,
        app_object: Chalice,
        config: ChaliceConfig,
    ) -> None:
        self.local_gateway = LocalGateway(app_object, config)
        self.local_gateway.event_converter = LambdaEventConverter(
            GreedyRouteMatcher(list(app_object.routes)), app_object.api.binary_types
        )
        BaseHTTPRequestHandler.__init__(self, request, client_address, server)

    def handle_one_request(self) -> None:
        _request.logged = False
        super().handle_one_request()

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """A method no route can have (TRACE, CONNECT, any other word): 405 in the envelope,
        not the HTML 501 of Python's HTTP server (API Gateway has no such methods either)."""
        if code != HTTPStatus.NOT_IMPLEMENTED:
            super().send_error(code, message, explain)
            return
        from chalicelib.api import METHODS

        allowed = ", ".join(METHODS)
        description = f"{self.command} is not allowed; allowed: {allowed}"
        body = json.dumps({"code": 405, "description": description, "data": {}}).encode()
        self.close_connection = True  # its body, unread, must not be taken for a request
        self.send_response(HTTPStatus.METHOD_NOT_ALLOWED)
        self.send_header("Connection", "close")
        self.send_header("Content-Type", "application/json")
        self.send_header("Allow", allowed)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if not _request.logged:
            from chalicelib import audit

            audit.logger.info(f"{self.command} {self.path}", extra={"status": int(code)})


def report_config() -> None:
    """The apps the server will answer for, or why there are none, before the first request."""
    from chalicelib.api import current_runtime
    from chalicelib.errors import ConfigError
    from chalicelib.settings import SettingsError

    try:
        source = current_runtime().config
    except SettingsError as exc:
        print(f"settings not usable: {exc}; every route answers 503", flush=True)
        return
    where = source.ssm_path or source.config_dir
    variable = "CONFIG_SSM_PATH" if source.ssm_path else "CONFIG_DIR"
    try:
        config = source.get()
    except ConfigError as exc:
        print(f"configuration in {where} not usable: {exc}; /health answers 503", flush=True)
        return
    if not config.apps:
        print(
            f"no apps configured: looked in {where} ({variable}); /health answers 503 and every "
            "push 404 until applications.ini there names an app",
            flush=True,
        )
        return
    names = ", ".join(sorted(f"{app} ({platform})" for app, platform in config.apps))
    print(f"{len(config.apps)} apps from {where}: {names}", flush=True)


def serve(host: str, port: int, stage: str) -> LocalDevServer:
    factory = CLIFactory(project_dir=str(ROOT), environ=os.environ)
    config = factory.create_config_obj(chalice_stage_name=stage)
    app = config.chalice_app  # imports app.py with the stage's environment applied
    validate_routes(app.routes)  # what `chalice deploy` would refuse, as chalice local checks
    from chalicelib import audit

    audit.logger.registered_handler.addFilter(_NoteLogged())
    report_config()
    server = create_local_server(app, config, host, port)
    server.server.RequestHandlerClass = partial(RequestHandler, app_object=app, config=config)
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The API on chalice's local server.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8400)
    parser.add_argument("--stage", default="local")
    args = parser.parse_args(argv)
    os.environ.setdefault("LOG_FORMAT", "text")
    if not is_free(args.port, args.host):  # before loading anything: the answer is one line
        print(taken(args.port, "PORT"), file=sys.stderr)
        return 1
    try:
        server = serve(args.host, args.port, args.stage)
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        print(taken(args.port, "PORT"), file=sys.stderr)
        return 1
    with suppress(KeyboardInterrupt):  # Ctrl-C is how it stops: no traceback
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
