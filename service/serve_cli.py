"""`quarry serve`: run the HTTP API with uvicorn, configured by the same settings as the CLI."""

from __future__ import annotations

import argparse


def cmd_serve(args) -> int:
    import uvicorn

    from service.api import create_app
    from service.logging_setup import configure_logging
    from service.settings import load_settings

    overrides = {key: value for key, value in (("data_dir", args.data_dir), ("host", args.host), ("port", args.port)) if value}
    settings = load_settings(**overrides)  # a bad setting fails here, before anything listens
    configure_logging(settings.log_format, args.log_level or settings.log_level)
    app = create_app(settings)
    # our handler formats uvicorn's records too; the API logs each request itself (with its request id)
    uvicorn.run(app, host=settings.host, port=settings.port, log_config=None, access_log=False, workers=1)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("serve", help="run the HTTP API (OpenAPI docs at /docs)")
    p.add_argument("--host", help="address to listen on (default: QUARRY_HOST or 127.0.0.1)")
    p.add_argument("--port", type=int, help="port to listen on (default: QUARRY_PORT or 8000)")
    p.add_argument("--log-level", help="default: QUARRY_LOG_LEVEL or info (QUARRY_LOG_FORMAT: json or text)", choices=("critical", "error", "warning", "info", "debug"))
    p.set_defaults(func=cmd_serve)
