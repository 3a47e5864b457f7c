"""quarry as an MCP server (the official `mcp` SDK): search and list collections, and, for write-scoped
keys only, add and delete documents. The tools call the service facade (service.facade), as the HTTP API does.

Two transports:
- streamable HTTP at /mcp inside `quarry serve`, behind the service's API keys (Bearer or X-API-Key):
  a small ASGI wrapper authenticates each HTTP request and leaves the principal in the request scope,
  where the tool handlers find it (the SDK hands them the HTTP request of each message);
- stdio (`quarry mcp`) for desktop clients that launch a command; it runs as the local user, with full access.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import mcp_types as types
from anyio import to_thread
from mcp.server.lowlevel import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from indexer.documents import Document
from indexer.errors import QuarryError
from indexer.filters import FILTER_HELP, InvalidFilter
from service.api.auth import Principal, authenticate
from service.api.errors import ApiError, error_response
from service.facade import METADATA_HELP, Metadata, QuarryService, TooLarge
from service.search.options import InvalidQuery

log = logging.getLogger("quarry.mcp")
LOCAL_USER = Principal("local", "admin")
PRINCIPAL_KEY = "quarry_principal"

INSTRUCTIONS = (
    "quarry searches the user's own document collections. Call list_collections to see them, then search; "
    "cite hits by their [n], doc_id and source. If no hit is relevant, say so rather than guessing."
)


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SearchArgs(_Args):
    query: str = Field(min_length=1, max_length=4096, description="what to look for, in natural language")
    collection: str = Field(description="collection name (see list_collections)")
    top_k: int = Field(5, ge=1, le=50, description="how many passages to return")
    filter: dict[str, Any] | None = Field(None, description=FILTER_HELP)


class NoArgs(_Args):
    pass


class AddDocumentArgs(_Args):
    collection: str
    doc_id: str = Field(min_length=1, max_length=512, description="stable id; the same id replaces the document")
    text: str = Field(min_length=1)
    title: str = ""
    source: str = Field("", description="where it came from, e.g. a URL")
    metadata: Metadata = Field(default_factory=dict, description=METADATA_HELP)


class DeleteDocumentArgs(_Args):
    collection: str
    doc_id: str = Field(min_length=1, max_length=512)


# name -> (arguments model, scope needed, description)
TOOLS: dict[str, tuple[type[_Args], str, str]] = {
    "search": (SearchArgs, "read", "Hybrid search (meaning + exact words, reranked) over one collection; "
               "returns numbered passages with doc_id, title, source, character offsets and a 0..1 score."),
    "list_collections": (NoArgs, "read", "The collections this key may search, with document and chunk counts."),
    "add_document": (AddDocumentArgs, "write", "Add or replace a document (by doc_id); searchable on return."),
    "delete_document": (DeleteDocumentArgs, "write", "Delete a document by doc_id."),
}  # fmt: skip


class QuarryMCP:
    """The MCP server over the service facade (service.facade, not the HTTP layer). `local` is the principal for messages that come without an HTTP
    request (stdio); None refuses them."""

    def __init__(self, get_state: Callable[[], QuarryService], local: Principal | None = None):
        self.get_state = get_state
        self.local = local
        self.server = Server(
            "quarry", version="0.1.0", instructions=INSTRUCTIONS,
            on_list_tools=self._list_tools, on_call_tool=self._call_tool,
        )  # fmt: skip
        self._manager: StreamableHTTPSessionManager | None = None

    # who is calling ------------------------------------------------------------------------------
    def _principal(self, ctx) -> Principal:
        request = getattr(ctx, "request", None)
        if request is None:
            if self.local is None:
                raise ApiError(401, "unauthorized", "this MCP endpoint needs an API key")
            return self.local
        principal = request.scope.get("state", {}).get(PRINCIPAL_KEY)
        return principal if principal is not None else authenticate(request)

    # tools ---------------------------------------------------------------------------------------
    async def _list_tools(self, ctx, params) -> types.ListToolsResult:
        principal = self._principal(ctx)
        tools = [
            types.Tool(name=name, description=description, input_schema=model.model_json_schema())
            for name, (model, scope, description) in TOOLS.items()
            if principal.allows(scope)
        ]
        return types.ListToolsResult(tools=tools)

    async def _call_tool(self, ctx, params: types.CallToolRequestParams) -> types.CallToolResult:
        try:
            principal = self._principal(ctx)
            if params.name not in TOOLS:
                raise ApiError(404, "unknown_tool", f"no tool {params.name!r}; list_tools shows the tools")
            model, scope, _ = TOOLS[params.name]
            args = model.model_validate(params.arguments or {})
            principal.ensure(scope, getattr(args, "collection", None))
            text, data = await to_thread.run_sync(getattr(self, f"_tool_{params.name}"), principal, args)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'arguments'}: {e['msg']}" for e in exc.errors())
            return _error(f"invalid arguments: {problems}")
        except ApiError as exc:
            return _error(f"{exc.type}: {exc.message}")
        except TooLarge as exc:
            return _error(f"payload_too_large: {exc}")
        except (QuarryError, InvalidFilter, InvalidQuery) as exc:
            return _error(str(exc))
        except Exception:  # noqa: BLE001 - the client gets a message, the log the trace
            log.exception("MCP tool %s failed", params.name)
            return _error("internal error; the server log has the details")
        return types.CallToolResult(content=[types.TextContent(type="text", text=text)], structured_content=data)

    def _tool_search(self, principal: Principal, args: SearchArgs) -> tuple[str, dict]:
        state = self.get_state()
        collection = state.collection(args.collection)
        result = state.searcher.relevant(collection, args.query, top_k=args.top_k, filter=args.filter)
        hits = []
        for n, scored in enumerate(result.hits, start=1):
            h = scored.hit
            hits.append({
                "n": n, "doc_id": h.doc_id, "title": h.title, "source": h.source, "start": h.start, "end": h.end,
                "heading_path": list(h.heading_path), "score": scored.relevance, "text": h.text,
            })  # fmt: skip
        data = {"query": result.query, "collection": args.collection, "reranked": result.reranked,
                "score_kind": result.score_kind, "hits": hits}  # fmt: skip
        if not hits:
            return f"No passages found in {args.collection!r} for {args.query!r}.", data
        blocks = []
        for h in hits:
            where = f", source {h['source']}" if h["source"] else ""
            blocks.append(
                f"[{h['n']}] {h['title'] or h['doc_id']} (doc_id {h['doc_id']}{where}, chars {h['start']}-{h['end']},"
                f" score {h['score']:.3f})\n{h['text']}"
            )
        return "\n\n".join(blocks), data

    def _tool_list_collections(self, principal: Principal, args: NoArgs) -> tuple[str, dict]:
        state = self.get_state()
        listing = []
        for name in state.collection_names(principal.can_access):
            collection = state.collection(name)
            listing.append({"name": name, **collection.counts(), "embedder": collection.manifest.embedder})
        text = "\n".join(f"{r['name']}: {r['documents']} documents, {r['chunks']} chunks" for r in listing)
        return text or "No collections yet.", {"collections": listing}

    def _tool_add_document(self, principal: Principal, args: AddDocumentArgs) -> tuple[str, dict]:
        state = self.get_state()
        doc = Document(args.doc_id, args.text, title=args.title, source=args.source, metadata=args.metadata)
        written = state.write_documents(state.collection(args.collection), [doc]).documents[0]
        return f"{written.status} {written.doc_id} in {args.collection} ({written.chunks} chunks)", vars(written)

    def _tool_delete_document(self, principal: Principal, args: DeleteDocumentArgs) -> tuple[str, dict]:
        state = self.get_state()
        state.delete_document(state.collection(args.collection), args.doc_id)
        return f"deleted {args.doc_id} from {args.collection}", {"deleted": args.doc_id, "collection": args.collection}

    # transports ----------------------------------------------------------------------------------
    def http_app(self) -> "_AuthenticatedMCP":
        """The ASGI app to route at /mcp; run `http_lifespan()` around the server's lifetime."""
        self._manager = StreamableHTTPSessionManager(app=self.server)
        return _AuthenticatedMCP(self._manager)

    def http_lifespan(self):
        if self._manager is None:
            raise RuntimeError("call http_app() first")
        return self._manager.run()

    async def run_stdio(self) -> None:
        from mcp.server.stdio import stdio_server

        async with stdio_server() as (read_stream, write_stream):
            await self.server.run(read_stream, write_stream, self.server.create_initialization_options())


class _AuthenticatedMCP:
    """ASGI: authenticate with the service's keys, leave the principal in the scope, hand over to the SDK.
    (A class, not a function, so Starlette routes every method to it as a raw ASGI app.)"""

    def __init__(self, manager: StreamableHTTPSessionManager):
        self.manager = manager

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            try:
                principal = authenticate(Request(scope)).ensure("read")
            except ApiError as exc:
                await error_response(exc.status, exc.type, exc.message, path=scope["path"])(scope, receive, send)
                return
            scope.setdefault("state", {})[PRINCIPAL_KEY] = principal
        await self.manager.handle_request(scope, receive, send)


def _error(message: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=message)], is_error=True)

