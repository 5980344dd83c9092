"""Import Sylk Pushserver's pickle token file into an rtc-pushserver token store.

Sylk Pushserver without Cassandra keeps API v2 tokens in `<spool_dir>/webrtc_device_tokens`, a
pickled `{account: {"<app-id>-<device-id>": {app_id, platform, token, device_id, silent,
user_agent, background_token, ...}}}`. This tool copies those devices into any backend::

    python -m tools.migrate_tokens --pickle /var/spool/sylk-pushserver/webrtc_device_tokens \\
        [--dry-run] --store sqlite --sqlite var/tokens.sqlite3
    python -m tools.migrate_tokens --pickle FILE --store dynamodb --table rtc-push-tokens
    python -m tools.migrate_tokens --pickle FILE --store keyspaces \\
        --contact-points cassandra.eu-west-1.amazonaws.com --keyspace sylk \\
        --sigv4-region eu-west-1

Devices are upserted with `updated_at` = the file's modification time (the original rewrote
the file on every change, so no record is newer): running the tool again gives the same store,
and the SQLite and DynamoDB stores keep any newer registration already made through
rtc-pushserver instead of overwriting it with the file's. Keyspaces has no `updated_at`
column: there the file's devices overwrite the stored ones. Records that cannot become a device
are skipped and listed in the summary. The file is read with an unpickler that only
builds plain containers: a pickle can otherwise run arbitrary code.

Unlike the other tools this one needs the project's code and dependencies (`chalicelib`).
"""

from __future__ import annotations

import argparse
import functools
import io
import os
import pickle
import pickletools
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from chalicelib.errors import ApiError
from chalicelib.models import clean_device_id, normalize_platform
from chalicelib.tokens.base import Device, TokenStore

MAX_ID = 255  # the API's limits (chalicelib.models), so imported devices are ones it accepts
MAX_TEXT = 1024

# The only globals a token file needs; anything else (os.system, subprocess...) is refused.
_SAFE_GLOBALS = frozenset(
    {
        ("collections", "defaultdict"),
        ("collections", "OrderedDict"),
        *(
            ("builtins", name)
            for name in ("dict", "list", "tuple", "set", "frozenset", "str", "bytes")
        ),
        *(("builtins", name) for name in ("int", "float", "bool", "complex")),
    }
)
# Python 2 pickles name the builtins module `__builtin__`.
_MODULE_ALIASES = {"__builtin__": "builtins"}
_FALSE = frozenset({"0", "false", "no", "off"})
_TRUE = frozenset({"1", "true", "yes", "on"})


# What the calls of one file may build, in bytes or items: far above any real token file,
# far below what hurts (a 31-byte pickle can otherwise ask for `bytes(200 MiB)`).
MAX_BUILT = 64 * 1024 * 1024
_SCALARS = (str, bytes, int, float, bool, complex)


class RefusedPickle(pickle.UnpicklingError):
    """The file references a global that a token file never needs, or builds too much."""


class SafeUnpickler(pickle.Unpickler):
    """Builds dicts, lists, strings and numbers only; never imports or calls anything else,
    and its calls build at most `budget` bytes or items in all."""

    def __init__(self, file: io.BytesIO, budget: int = MAX_BUILT) -> None:
        super().__init__(file)
        self._budget = budget

    def find_class(self, module: str, name: str) -> Any:
        module = _MODULE_ALIASES.get(module, module)
        if (module, name) not in _SAFE_GLOBALS:
            raise RefusedPickle(f"refusing pickle global {module}.{name}")
        return functools.partial(self._build, super().find_class(module, name))

    def _build(self, kind: Any, *args: Any, **kwargs: Any) -> Any:
        values = [*args, *kwargs.values()]
        if kind is str and not all(isinstance(value, _SCALARS) for value in values):
            # str() of a container is its repr, which shared references make exponential
            raise RefusedPickle("refusing pickle: str() of a container")
        cost = sum(_cost(kind, value) for value in values) or 1
        if cost > self._budget:
            raise RefusedPickle(
                f"refusing pickle: {kind.__name__}() would build {cost:,} bytes or items,"
                f" more than the {MAX_BUILT:,} a token file ever needs"
            )
        self._budget -= cost
        return kind(*args, **kwargs)


def _cost(kind: Any, value: Any) -> int:
    """What building `kind` from `value` allocates: bytes(n) is n bytes, a copy its length."""
    if isinstance(value, int) and not isinstance(value, bool):
        return max(value, 1) if kind is bytes else 1
    return len(value) if hasattr(value, "__len__") else 1


def load_pickle(path: Path) -> Any:
    """The unpickled token file; RefusedPickle when it references anything unsafe.

    The opcodes are read once without building anything first: the unpickler allocates the
    length a bytes or string opcode announces before reading it, and a 14-byte file can
    announce a terabyte."""
    data = path.read_bytes()
    try:
        _check_opcodes(data)
    except (ValueError, IndexError, KeyError) as exc:
        raise pickle.UnpicklingError(f"pickle data was truncated or malformed: {exc}") from None
    return SafeUnpickler(io.BytesIO(data)).load()


# What may be referenced again: a repeated string or number, or a class fetched before
_SHAREABLE = frozenset(
    {"None", "bool", "bytes", "bytearray", "bytes_or_str", "float", "int", "int_or_bool", "str"}
    | {"global"}
)


def _check_opcodes(data: bytes) -> None:
    """Read every opcode, following what kind of object each leaves on the stack, and refuse
    a container referenced twice: a token file never shares one, and shared tuples nest into
    keys whose hash (or repr) takes 2**depth steps."""
    stack: list[str] = []
    memo: dict[int, str] = {}
    for opcode, arg, _ in pickletools.genops(data):
        name = opcode.name
        if name in ("PUT", "BINPUT", "LONG_BINPUT"):
            memo[int(str(arg))] = stack[-1]
        elif name == "MEMOIZE":
            memo[len(memo)] = stack[-1]
        elif name in ("GET", "BINGET", "LONG_BINGET"):
            kind = memo[int(str(arg))]
            if kind not in _SHAREABLE:
                raise RefusedPickle("refusing pickle: a container referenced twice")
            stack.append(kind)
        elif name == "DUP":
            stack.append(stack[-1])
        elif name in ("GLOBAL", "STACK_GLOBAL"):
            del stack[len(stack) - len(opcode.stack_before) :]
            stack.append("global")
        else:
            before = [item.name for item in opcode.stack_before]
            if "mark" in before:
                while stack.pop() != "mark":
                    pass
                del stack[len(stack) - before.index("mark") :]
            elif before:
                del stack[-len(before) :]
            stack.extend(item.name for item in opcode.stack_after)


@dataclass(frozen=True)
class Skipped:
    account: str
    key: str
    reason: str


@dataclass
class Plan:
    """What the file holds, as devices to upsert and entries that cannot be imported."""

    devices: list[Device] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    @property
    def accounts(self) -> int:
        return len({device.account for device in self.devices})


class Malformed(ValueError):
    """One record that cannot become a Device; the message is the reason."""


def _get(record: Mapping[Any, Any], name: str) -> Any:
    # Stored keys use underscores; a record polluted by a push may carry the hyphenated alias.
    value = record.get(name)
    return record.get(name.replace("_", "-")) if value is None else value


def _text(record: Mapping[Any, Any], name: str, limit: int, *, required: bool) -> str | None:
    value = _get(record, name)
    if value is None or value == "":
        if required:
            raise Malformed(f"missing {name}")
        return None
    if not isinstance(value, str):
        raise Malformed(f"{name} is not a string ({type(value).__name__})")
    if len(value) > limit:
        raise Malformed(f"{name} is longer than {limit} characters")
    return value


def _silent(value: Any) -> bool:
    if value is None:
        return True  # the API's default
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    shown = repr(value) if isinstance(value, (str, int, float)) else type(value).__name__
    raise Malformed(f"silent is not a boolean ({shown})")


def to_device(account: str, key: str, record: Any, updated_at: float = 0.0) -> Device:
    """One pickle record as a Device; Malformed (with the reason) when it cannot be one.

    Push fields merged into the record by the original's v2 push (event, call_id, to...) are
    ignored: only the stored device fields are read.
    """
    if not isinstance(record, Mapping):
        raise Malformed(f"record is a {type(record).__name__}, not a mapping")
    app_id = _text(record, "app_id", MAX_ID, required=True)
    raw_platform = _text(record, "platform", MAX_ID, required=True)
    token = _text(record, "token", MAX_TEXT, required=True)
    device_id = _text(record, "device_id", MAX_ID, required=False)
    assert app_id is not None and raw_platform is not None and token is not None
    if device_id is None and key.startswith(f"{app_id}-") and len(key) > len(app_id) + 1:
        device_id = key[len(app_id) + 1 :]  # the key is "<app-id>-<device-id>"
    if device_id is None:
        raise Malformed("missing device_id")
    platform = normalize_platform(raw_platform)
    if platform is None:
        raise Malformed(f"unknown platform {raw_platform!r}")
    return Device(
        account=account,
        app_id=app_id,
        device_id=clean_device_id(device_id),
        platform=platform,
        token=token,
        background_token=_text(record, "background_token", MAX_TEXT, required=False),
        silent=_silent(_get(record, "silent")),
        user_agent=_text(record, "user_agent", MAX_TEXT, required=False),
        updated_at=updated_at,
    )


def plan(data: Any, updated_at: float = 0.0) -> Plan:
    """The devices to import from an unpickled token file, and what is skipped and why."""
    if not isinstance(data, Mapping):
        raise Malformed(f"the file holds a {type(data).__name__}, not {{account: devices}}")
    result = Plan()
    for raw_account, entries in data.items():
        # repr of a non-string (a tuple of shared tuples) can be exponential: only its type
        account = raw_account if isinstance(raw_account, str) else f"<{type(raw_account).__name__}>"
        if not isinstance(raw_account, str) or "@" not in raw_account.strip("@"):
            result.skipped.append(Skipped(account, "*", "account is not user@domain"))
            continue
        if not isinstance(entries, Mapping):
            reason = f"devices are a {type(entries).__name__}, not a mapping"
            result.skipped.append(Skipped(account, "*", reason))
            continue
        # Later records win, as they did in the original's dict: keep the last per key.
        chosen: dict[tuple[str, str], tuple[str, Device]] = {}
        for raw_key, record in entries.items():
            key = raw_key if isinstance(raw_key, str) else f"<{type(raw_key).__name__}>"
            try:
                device = to_device(account, key, record, updated_at)
            except Malformed as exc:
                result.skipped.append(Skipped(account, key, str(exc)))
                continue
            device_key = (device.app_id, device.device_id)
            if device_key in chosen:
                earlier = chosen.pop(device_key)[0]
                result.skipped.append(Skipped(account, earlier, f"superseded by {key}"))
            chosen[device_key] = (key, device)
        result.devices.extend(device for _, device in chosen.values())
    return result


def make_store(options: argparse.Namespace) -> TokenStore:
    """The target store named by `--store` and its options."""
    if options.store == "sqlite":
        from chalicelib.tokens.sqlite import SqliteTokenStore

        return SqliteTokenStore(options.sqlite)
    if options.store == "dynamodb":
        from chalicelib.tokens.dynamodb import DynamoTokenStore

        return DynamoTokenStore(options.table)
    from chalicelib.tokens.keyspaces import KeyspacesTokenStore

    contact_points = [host.strip() for host in options.contact_points.split(",") if host.strip()]
    region = options.sigv4_region
    return KeyspacesTokenStore(
        contact_points,
        options.keyspace,
        table=options.cql_table,
        port=options.port,
        region=region,
        sigv4=region is not None,
        username=options.username,
        # From the environment only: a password on the command line shows in `ps`.
        password=os.environ.get("CQL_PASSWORD"),
        ca_file=options.ca_file,
        tls=options.tls,
    )


def parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(
        prog="python -m tools.migrate_tokens",
        description="Import Sylk Pushserver's pickle token file into a token store.",
    )
    cli.add_argument("--pickle", type=Path, required=True, help="the webrtc_device_tokens file")
    cli.add_argument(
        "--dry-run", action="store_true", help="print what would be done, write nothing"
    )
    cli.add_argument("--store", choices=("sqlite", "dynamodb", "keyspaces"))
    sqlite = cli.add_argument_group("--store sqlite")
    sqlite.add_argument("--sqlite", type=Path, metavar="PATH", help="SQLite database file")
    dynamodb = cli.add_argument_group("--store dynamodb (region and credentials from boto3)")
    dynamodb.add_argument("--table", metavar="NAME", help="DynamoDB table")
    cql = cli.add_argument_group("--store keyspaces (password from $CQL_PASSWORD)")
    cql.add_argument("--contact-points", metavar="HOST[,HOST...]")
    cql.add_argument("--keyspace")
    cql.add_argument("--cql-table", default="push_tokens", metavar="NAME")
    cql.add_argument("--port", type=int, help="default 9142 with TLS, else 9042")
    cql.add_argument("--sigv4-region", metavar="REGION", help="Amazon Keyspaces: SigV4 and TLS")
    cql.add_argument("--username")
    cql.add_argument("--ca-file", metavar="PEM", help="CA bundle; turns TLS on")
    cql.add_argument("--tls", action="store_true", help="TLS with the default trust store")
    return cli


def _check_store_options(cli: argparse.ArgumentParser, options: argparse.Namespace) -> None:
    needed = {
        "sqlite": ["sqlite"],
        "dynamodb": ["table"],
        "keyspaces": ["contact_points", "keyspace"],
        None: [],
    }[options.store]
    missing = [f"--{name.replace('_', '-')}" for name in needed if not getattr(options, name)]
    if missing:
        cli.error(f"--store {options.store} needs {', '.join(missing)}")
    if options.store is None and not options.dry_run:
        cli.error("--store is required (or use --dry-run)")


def _print_summary(result: Plan, written: int, dry_run: bool, out: TextIO) -> None:
    print(f"accounts: {result.accounts}", file=out)
    if dry_run:
        print(f"devices to import: {len(result.devices)}", file=out)
    else:
        print(f"devices imported: {written}", file=out)
    print(f"skipped: {len(result.skipped)}", file=out)
    for entry in result.skipped:
        print(f"  {entry.account} {entry.key}: {entry.reason}", file=out)


def main(argv: list[str] | None = None) -> int:
    cli = parser()
    options = cli.parse_args(argv)
    _check_store_options(cli, options)
    out, err = sys.stdout, sys.stderr
    try:
        result = plan(load_pickle(options.pickle), options.pickle.stat().st_mtime)
    except OSError as exc:
        print(f"error: cannot read {options.pickle}: {exc}", file=err)
        return 2
    except RefusedPickle as exc:
        print(f"error: {options.pickle} is not a plain token file: {exc}", file=err)
        return 2
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as exc:
        print(f"error: {options.pickle} is not a token file: {exc}", file=err)
        return 2

    if options.dry_run:
        for device in result.devices:
            print(f"would upsert {_describe(device)}", file=out)
        _print_summary(result, 0, True, out)
        return 0

    written = 0
    store: TokenStore | None = None
    try:
        store = make_store(options)
        for device in result.devices:
            store.upsert(device)
            written += 1
    except ApiError as exc:
        # Each upsert is whole, and a rerun upserts the same devices: it finishes the job.
        print(f"error after {written} devices: {exc.description}", file=err)
        _print_summary(result, written, False, out)
        return 1
    finally:
        close = getattr(store, "close", None)  # not part of TokenStore; SQLite/CQL have it
        if callable(close):
            close()
    _print_summary(result, written, False, out)
    return 0


def _describe(device: Device) -> str:
    token = device.token if len(device.token) <= 8 else f"{device.token[:6]}..."
    background = " +background" if device.background_token else ""
    return (
        f"{device.account} {device.app_id} {device.device_id} {device.platform}"
        f" token={token}{background} silent={device.silent}"
    )


if __name__ == "__main__":
    sys.exit(main())
