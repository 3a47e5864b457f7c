"""The `quarry` command: main (the parser and the index/search/collections commands) and one module per
group of subcommands (serve, check, mcp, eval), all building their runtime with common.runtime_from_args."""

from service.cli.main import main

__all__ = ["main"]
