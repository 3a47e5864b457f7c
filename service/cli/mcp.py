"""`quarry mcp`: the MCP tools over stdio, for clients that launch a command (Claude Desktop, Cursor...).

It runs as the local user with full access (no API key: whoever can run the command can read the files).
The SDK is imported only when the command runs, so the rest of the CLI starts fast.
"""

from __future__ import annotations

import argparse

from service.cli.common import settings_from_args


def cmd_mcp(args) -> int:
    import anyio

    from service.facade import QuarryService
    from service.mcp.server import LOCAL_USER, QuarryMCP

    settings = settings_from_args(args)
    state = QuarryService(settings)  # models load before the client's first message
    try:
        anyio.run(QuarryMCP(lambda: state, local=LOCAL_USER).run_stdio)
    finally:
        state.close()
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("mcp", help="serve the MCP tools over stdio (Claude Desktop and other MCP clients)")
    p.set_defaults(func=cmd_mcp)
