"""The MCP server (tools over streamable HTTP inside `quarry serve`, or stdio via `quarry mcp`)."""
