"""Command-line client of rtc-pushserver.

Two interfaces share one program:

* **v1** (the default): the options of ``sylk-pushclient``, so OpenSIPS scripts that call it
  keep working unchanged. It POSTs one v1 wake-up request to ``/push`` and exits 0 when the
  server answers 200 (delivered) or 202 (queued for retry, or accepted for delivery), 1 on
  any other answer or no answer, 2 on a usage error (the original exits 1 on a 202 too)::

      pushclient --url http://pushserver:8400/push --platform=ios --appid=com.example.app \\
          --token=AAA-BBB --deviceid=dev1 --callid=abc --from=alice@example.com \\
          --to=bob@example.com [--from_name=Alice] [--mediatype="audio, video"] \\
          [--event=incoming_session|cancel|...] [--silent=1] [--timeout=5]

* **v2** (when the first positional argument is ``add``, ``remove`` or ``push``): the token
  API of ``/v2/tokens/<account>``; exits 0 on any 2xx answer or 410::

      pushclient [--url http://localhost:8400] --account alice@example.com add \\
          --platform ios --appid com.example.app --token AAA-BBB --deviceid dev1 \\
          [--silent 1] [--user_agent UA]
      pushclient --account alice@example.com remove --appid com.example.app --deviceid dev1
      pushclient --account alice@example.com push --callid abc --from bob@example.com \\
          --to alice@example.com [--from_name Bob] [--mediatype audio] \\
          [--event incoming_session] [--deviceid dev1] [--reason R] [--badge 1] \\
          [--filename F] [--filetype T] [--content C] [--content_type T]

* **trace** (``pushclient trace CALL-ID [--since 1h] [--stage STAGE | --log-file F]``): the
  story of one push from the logs, every attempt in order (see tools/pushtrace.py).

Both interfaces accept ``--timeout`` (seconds, default 5) and ``--api-key`` (sent as the
``x-api-key`` header; default: the ``PUSHCLIENT_API_KEY`` environment variable), and take
``--url`` as the server's base URL or its ``/push`` URL alike. Both print the same way: a
one-line verdict (on stderr when it failed, with the answer's description), then the JSON
answer on stdout.

Only the standard library is used: the program must run with a plain ``python3`` (>= 3.9) on
a SIP proxy host.
"""

from __future__ import annotations

import argparse
import http
import http.client
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import IO, Any

__version__ = "0.1.0"

PROG = "pushclient"
SUBCOMMANDS = frozenset({"add", "remove", "push"})
DEFAULT_TIMEOUT = 5.0
DEFAULT_V2_URL = "http://localhost:8400"
API_KEY_ENV = "PUSHCLIENT_API_KEY"
API_KEY_HEADER = "x-api-key"
USER_AGENT = f"{PROG}/{__version__}"
APPLE_PLATFORMS = frozenset({"apple", "ios", "apns"})
# Options that take no value; every other option of both interfaces takes exactly one.
_FLAG_OPTIONS = frozenset({"-h", "--help"})

JSONBody = dict[str, Any]


class TransportError(Exception):
    """The request got no HTTP answer (refused, timed out, invalid URL, broken response)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Answer:
    """An HTTP answer: status code and body text."""

    def __init__(self, status: int, body: str) -> None:
        self.status = status
        self.body = body

    def __repr__(self) -> str:
        return f"Answer(status={self.status!r}, body={self.body!r})"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Do not follow redirects: a POST must never be silently replayed as a GET."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: http.client.HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect())


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace").strip()


def compact(body: JSONBody) -> JSONBody:
    """Drop keys whose value is None (absent options are not sent)."""
    return {key: value for key, value in body.items() if value is not None}


def send(
    method: str,
    url: str,
    body: JSONBody,
    timeout: float = DEFAULT_TIMEOUT,
    api_key: str | None = None,
) -> Answer:
    """Send ``body`` as JSON and return the answer, whatever its status.

    Raises TransportError when no HTTP answer could be obtained.
    """
    data = json.dumps(compact(body)).encode("utf-8")
    headers = {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "User-Agent": USER_AGENT,
    }
    if api_key:
        headers[API_KEY_HEADER] = api_key
    try:
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        with _OPENER.open(request, timeout=timeout) as response:
            return Answer(int(response.status), _decode(response.read()))
    except urllib.error.HTTPError as error:
        try:
            text = _decode(error.read())
        except (OSError, http.client.HTTPException):
            text = ""
        return Answer(int(error.code), text)
    except urllib.error.URLError as error:
        raise TransportError(str(error.reason)) from error
    except (OSError, http.client.HTTPException, ValueError) as error:
        raise TransportError(str(error) or type(error).__name__) from error


# --------------------------------------------------------------------------------------------
# Transformations shared by both interfaces


def base_url(url: str) -> str:
    """The server's base URL, whether ``--url`` names it or its ``/push`` URL."""
    url = url.rstrip("/")
    return url[: -len("/push")] if url.endswith("/push") else url


def envelope(answer: Answer) -> JSONBody | None:
    """The answer's ``{code, description, data}``; None when it is not the server's own."""
    try:
        body = json.loads(answer.body)
    except ValueError:
        return None
    if not isinstance(body, dict) or set(body) != {"code", "description", "data"}:
        return None
    return body if body["code"] == answer.status else None


def verdict(what: str, answer: Answer, ok: bool) -> str:
    """One line: what was done and how the server answered, in its own words."""
    body = envelope(answer)
    if body is None:
        seen = " ".join(answer.body.split())[:120] or "an empty body"
        return (
            f"{what} failed: HTTP {answer.status} is not an rtc-pushserver answer ({seen}); "
            "expected the server's base URL or its /push URL as --url, "
            f"e.g. {DEFAULT_V2_URL} or {DEFAULT_V2_URL}/push"
        )
    try:
        phrase = http.HTTPStatus(answer.status).phrase
    except ValueError:
        phrase = ""
    outcome = "response" if ok else "failed:"
    return f"{what} {outcome} {answer.status} {phrase}: {body['description']}".replace("  ", " ")


def exchange(
    what: str, request: tuple[str, str, JSONBody], args: argparse.Namespace, ok: set[int]
) -> Answer | None:
    """Send, then print the verdict (on stderr unless the status is in `ok`) and the JSON
    answer (stdout). None when no answer came."""
    method, url, body = request
    try:
        answer = send(method, url, body, args.timeout, args.api_key)
    except TransportError as error:
        print(f"{what} failed: connection error: {error.reason}", file=sys.stderr)
        return None
    succeeded = answer.status in ok
    print(verdict(what, answer, succeeded), file=sys.stdout if succeeded else sys.stderr)
    if envelope(answer) is not None:
        print(answer.body)
    return answer


def strip_quotes(value: str | None) -> str | None:
    """Remove the double quotes OpenSIPS may leave around a value (``"Alice"`` -> ``Alice``)."""
    return None if value is None else value.strip('"')


def normalize_media_type(value: str | None) -> str | None:
    """``"audio, video"`` -> ``video``; anything with ``audio`` -> ``audio``; else as given."""
    if value is None:
        return None
    lowered = value.lower()
    if "video" in lowered:
        return "video"
    if "audio" in lowered:
        return "audio"
    return value


def sylk_pushclient_token(token: str, platform: str, event: str | None) -> str:
    """The half of an Apple ``A-B`` (or ``A#B``) token that the original ``sylk-pushclient``
    sends: ``B`` (background token) for ``cancel``, ``A`` (VoIP token) for everything else.

    Kept for compatibility only: this client stands in for the original one, which also
    talks to the original server, whose v1 API sends the token it is given. The server's own
    rule differs for ``message`` (it uses ``B``) and applies when it gets the whole pair.
    Tokens of other platforms are sent unchanged: FCM registration tokens may contain ``-``.
    """
    if platform.strip().lower() not in APPLE_PLATFORMS:
        return token
    voip, _, background = token.replace("#", "-").partition("-")
    if event == "cancel":
        return background or voip
    return voip or background


# --------------------------------------------------------------------------------------------
# Argument parsing


def _add_connection_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    def default(value: Any) -> Any:
        return argparse.SUPPRESS if suppress else value

    parser.add_argument(
        "--timeout",
        type=float,
        default=default(DEFAULT_TIMEOUT),
        help=f"seconds to wait for the answer (default {DEFAULT_TIMEOUT:g})",
    )
    parser.add_argument(
        "--api-key",
        dest="api_key",
        default=default(os.environ.get(API_KEY_ENV)),
        help=f"sent as the {API_KEY_HEADER} header (default: ${API_KEY_ENV})",
    )


def build_v1_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Send one v1 push request (sylk-pushclient compatible).",
        epilog=(
            "v2 token API: %(prog)s [--url URL] --account ACCOUNT {add,remove,push} ... "
            "(see '%(prog)s add --help', '%(prog)s remove --help', '%(prog)s push --help')"
        ),
    )
    parser.add_argument("--url", required=True, help="full URL of /push")
    parser.add_argument("--platform", required=True, help="apple/ios/apns or firebase/android/fcm")
    parser.add_argument("--appid", required=True, help="application id")
    parser.add_argument("--token", required=True, help="device token (Apple: VOIP-BACKGROUND)")
    parser.add_argument("--deviceid", required=True, help="device id (SIP instance)")
    parser.add_argument("--callid", required=True, help="SIP Call-ID")
    parser.add_argument("--event", default="incoming_session", help="default incoming_session")
    parser.add_argument(
        "--from", dest="sip_from", metavar="FROM", required=True, help="caller SIP URI"
    )
    parser.add_argument("--from_name", help="caller display name (default: --from)")
    parser.add_argument("--to", required=True, help="callee SIP URI")
    parser.add_argument("--silent", default="1", help='default "1"')
    parser.add_argument("--mediatype", default="audio", help="default audio")
    _add_connection_options(parser, suppress=False)
    return parser


def build_v2_parser() -> argparse.ArgumentParser:
    def connection(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
        parser.add_argument(
            "--url",
            default=argparse.SUPPRESS if suppress else DEFAULT_V2_URL,
            help=f"base URL of the server (default {DEFAULT_V2_URL})",
        )
        parser.add_argument(
            "--account",
            default=argparse.SUPPRESS if suppress else None,
            help="SIP account, e.g. alice@example.com (required)",
        )
        _add_connection_options(parser, suppress=suppress)

    # The global options are also accepted after the sub-command.
    common = argparse.ArgumentParser(add_help=False)
    connection(common, suppress=True)

    parser = argparse.ArgumentParser(
        prog=PROG, description="Use the v2 token API of rtc-pushserver."
    )
    connection(parser, suppress=False)
    commands = parser.add_subparsers(dest="command", metavar="{add,remove,push}")
    commands.required = True

    add = commands.add_parser("add", parents=[common], help="store a device token")
    add.add_argument("--platform", required=True, help="apple/ios/apns or firebase/android/fcm")
    add.add_argument("--appid", required=True, help="application id")
    add.add_argument("--token", required=True, help="device token (Apple: VOIP-BACKGROUND)")
    add.add_argument("--deviceid", required=True, help="device id")
    add.add_argument("--silent", default="1", help='default "1"')
    add.add_argument("--user_agent", help="user agent of the device")

    remove = commands.add_parser("remove", parents=[common], help="remove a device token")
    remove.add_argument("--appid", required=True, help="application id")
    remove.add_argument("--deviceid", required=True, help="device id")

    push = commands.add_parser("push", parents=[common], help="push to the account's devices")
    push.add_argument("--mediatype", default="audio", help="default audio")
    push.add_argument("--callid", required=True, help="SIP Call-ID")
    push.add_argument("--event", default="incoming_session", help="default incoming_session")
    push.add_argument(
        "--from", dest="sip_from", metavar="FROM", required=True, help="caller SIP URI"
    )
    push.add_argument("--from_name", help="caller display name (default: --from)")
    push.add_argument("--to", required=True, help="callee SIP URI")
    push.add_argument("--reason", help="cancel reason")
    push.add_argument("--badge", type=int, default=1, help="default 1")
    push.add_argument("--deviceid", help="push to this stored device only")
    push.add_argument("--filename", help="file name (transfer)")
    push.add_argument("--filetype", help="file type (transfer)")
    push.add_argument("--content", help="message content (message)")
    push.add_argument("--content_type", help="message content type (message)")
    return parser


def first_positional(argv: list[str]) -> str | None:
    """The first argument that is neither an option nor an option's value."""
    index = 0
    while index < len(argv):
        arg = argv[index]
        if arg == "--":
            return argv[index + 1] if index + 1 < len(argv) else None
        if arg.startswith("-") and len(arg) > 1:
            takes_value = "=" not in arg and arg not in _FLAG_OPTIONS
            index += 2 if takes_value else 1
            continue
        return arg
    return None


def is_v2(argv: list[str]) -> bool:
    return first_positional(argv) in SUBCOMMANDS


# --------------------------------------------------------------------------------------------
# v1


def v1_body(args: argparse.Namespace) -> JSONBody:
    sip_from = strip_quotes(args.sip_from)
    return compact(
        {
            "platform": args.platform,
            "app-id": args.appid,
            "token": sylk_pushclient_token(args.token, args.platform, args.event),
            "media-type": normalize_media_type(args.mediatype),
            "event": args.event,
            "from": sip_from,
            "from-display-name": strip_quotes(args.from_name) or sip_from,
            "to": args.to,
            "device-id": args.deviceid,
            "call-id": args.callid,
            "silent": args.silent,
        }
    )


# 202 (queued for retry, or accepted for delivery): the server owns the push now. The
# original sylk-pushclient exits 1 on it, so OpenSIPS logs such a push as failed.
V1_OK = {200, 202}
V2_OK = {*range(200, 300), 410}  # 410: the dead token was forgotten, as asked


def run_v1(args: argparse.Namespace) -> int:
    url = f"{base_url(args.url)}/push"
    what = f"{args.event} push for {args.callid} to {url}"
    answer = exchange(what, ("POST", url, v1_body(args)), args, V1_OK)
    if answer is not None and answer.status == 410:
        print(f"Token {args.token} must be purged")
    return 0 if answer is not None and answer.status in V1_OK else 1


# --------------------------------------------------------------------------------------------
# v2


def v2_request(args: argparse.Namespace) -> tuple[str, str, JSONBody]:
    """Method, URL and JSON body of a v2 sub-command."""
    base = f"{base_url(args.url)}/v2/tokens/{urllib.parse.quote(args.account, safe='')}"
    if args.command == "add":
        body: JSONBody = {
            "platform": args.platform,
            "app-id": args.appid,
            "token": args.token,
            "device-id": args.deviceid,
            "silent": args.silent,
            "user-agent": args.user_agent,
        }
        return "POST", base, compact(body)
    if args.command == "remove":
        return "DELETE", base, {"app-id": args.appid, "device-id": args.deviceid}
    url = f"{base}/push"
    if args.deviceid:
        url = f"{url}/{urllib.parse.quote(args.deviceid, safe='')}"
    sip_from = strip_quotes(args.sip_from)
    body = {
        "media-type": normalize_media_type(args.mediatype),
        "event": args.event,
        "from": sip_from,
        "from-display-name": strip_quotes(args.from_name) or sip_from,
        "to": args.to,
        "call-id": args.callid,
        "badge": args.badge,
        "reason": args.reason,
        "filename": args.filename,
        "filetype": args.filetype,
        "content": args.content,
        "content-type": args.content_type,
    }
    return "POST", url, compact(body)


def run_v2(args: argparse.Namespace) -> int:
    request = v2_request(args)
    answer = exchange(f"{args.command} {request[0]} {request[1]}", request, args, V2_OK)
    return 0 if answer is not None and answer.status in V2_OK else 1


# --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Run the client; returns the process exit code (2 for usage errors)."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if first_positional(arguments) == "trace":
        from .pushtrace import main as trace

        arguments.remove("trace")
        return trace(arguments)
    v2 = is_v2(arguments)
    parser = build_v2_parser() if v2 else build_v1_parser()
    try:
        args = parser.parse_args(arguments)
        if v2 and not args.account:
            parser.error("the following arguments are required: --account")
    except SystemExit as exit_:
        code = exit_.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return run_v2(args) if v2 else run_v1(args)


if __name__ == "__main__":
    sys.exit(main())
