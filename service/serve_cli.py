"""`quarry serve`: run the HTTP API with uvicorn, configured by the same settings as the CLI."""

from __future__ import annotations

import argparse


def cmd_serve(args) -> int:
    import uvicorn

    from service.api import create_app
    from service.settings import load_settings

    overrides = {key: value for key, value in (("data_dir", args.data_dir), ("host", args.host), ("port", args.port)) if value}
    settings = load_settings(**overrides)  # a bad setting fails here, before anything listens
    app = create_app(settings)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=args.log_level, workers=1)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("serve", help="run the HTTP API (OpenAPI docs at /docs)")
    p.add_argument("--host", help="address to listen on (default: QUARRY_HOST or 127.0.0.1)")
    p.add_argument("--port", type=int, help="port to listen on (default: QUARRY_PORT or 8000)")
    p.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"))
    p.set_defaults(func=cmd_serve)
