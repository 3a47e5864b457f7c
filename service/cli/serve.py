"""`quarry serve`: run the HTTP API with uvicorn, configured by the same settings as the CLI."""

from __future__ import annotations

import argparse
import ipaddress
import sys

from service.cli.common import settings_from_args
from service.settings import Settings, SettingsError


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve to anything: treat it as remote


def check_bind(settings: Settings) -> None:
    """Without API keys the API is open to whoever reaches it, so it listens on loopback only unless told."""
    if settings.api_keys or settings.allow_unauthenticated_remote or is_loopback(settings.host):
        return
    raise SettingsError(
        f"refusing to listen on {settings.host} with no API keys: anyone who can reach it could read and change"
        " every collection. Configure QUARRY_API_KEYS (or QUARRY_API_KEYS_FILE), listen on 127.0.0.1, or set"
        " QUARRY_ALLOW_UNAUTHENTICATED_REMOTE=true if a trusted proxy in front does the authentication"
    )


def check_data_dir(settings: Settings) -> None:
    """The server writes under the data dir (collections, jobs.sqlite, uploads): say so in one line now,
    rather than as a traceback from deep inside start-up."""
    import os
    import tempfile

    directory = settings.data_dir.expanduser()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".write-test-"):
            pass
        if not os.access(directory, os.W_OK | os.X_OK):
            raise PermissionError(f"no write permission on {directory}")
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise SettingsError(
            f"QUARRY_DATA_DIR {str(directory)!r} is not writable by this user ({reason}): fix its permissions"
            " or ownership, or point QUARRY_DATA_DIR (or --data-dir) at a writable directory"
        ) from None


def cmd_serve(args) -> int:
    import uvicorn

    from service.api import create_app
    from service.api.auth import AccessControl
    from service.logging_setup import configure_logging

    overrides = {key: value for key, value in (("host", args.host), ("port", args.port)) if value}
    settings = settings_from_args(args, **overrides)  # a bad setting fails here, before anything listens
    check_bind(settings)
    check_data_dir(settings)
    if bool(args.ssl_certfile) != bool(args.ssl_keyfile):
        raise SettingsError("--ssl-certfile and --ssl-keyfile go together: give both, or neither")
    configure_logging(args.log_format or settings.log_format, args.log_level or settings.log_level)
    print(f"quarry: {AccessControl(settings).describe()}; listening on {settings.host}:{settings.port}", file=sys.stderr)
    app = create_app(settings)
    tls = {"ssl_certfile": args.ssl_certfile, "ssl_keyfile": args.ssl_keyfile} if args.ssl_certfile else {}
    # our handler formats uvicorn's records too; the API logs each request itself (with its request id)
    uvicorn.run(app, host=settings.host, port=settings.port, log_config=None, access_log=False, workers=1, **tls)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("serve", help="run the HTTP API (OpenAPI docs at /docs)")
    p.add_argument("--host", help="address to listen on (default: QUARRY_HOST or 127.0.0.1)")
    p.add_argument("--port", type=int, help="port to listen on (default: QUARRY_PORT or 8000)")
    p.add_argument("--log-level", help="default: QUARRY_LOG_LEVEL or info", choices=("critical", "error", "warning", "info", "debug"))
    p.add_argument("--log-format", choices=("auto", "json", "text"), help="default: QUARRY_LOG_FORMAT or auto (text on a terminal, else JSON)")
    p.add_argument("--ssl-certfile", help="serve HTTPS with this certificate (PEM); a reverse proxy is the usual way")
    p.add_argument("--ssl-keyfile", help="the certificate's private key (PEM)")
    p.set_defaults(func=cmd_serve)
