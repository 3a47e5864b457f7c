"""Who is calling and what they may do: the interface every route uses.

Scopes nest: admin > write > read. A key may be limited to named collections.
Routes declare what they need with `Depends(require("read"))`; a route that learns its collection
from the body (not the path) calls `principal.ensure(scope, collection)` itself.
This first version admits everyone as an anonymous admin; key checking plugs in behind `authenticate`.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from service.api.errors import ApiError

SCOPES = ("read", "write", "admin")


@dataclass(frozen=True)
class Principal:
    name: str  # never the key itself
    scope: str
    collections: frozenset[str] | None = None  # None: every collection

    def allows(self, scope: str) -> bool:
        return SCOPES.index(self.scope) >= SCOPES.index(scope)

    def can_access(self, collection: str | None) -> bool:
        return collection is None or self.collections is None or collection in self.collections

    def ensure(self, scope: str, collection: str | None = None) -> "Principal":
        if not self.allows(scope):
            raise ApiError(403, "forbidden", f"this API key has scope {self.scope!r}; this call needs {scope!r}")
        if not self.can_access(collection):
            raise ApiError(403, "forbidden", f"this API key is not allowed to use collection {collection!r}")
        return self


ANONYMOUS = Principal("anonymous", "admin")


def authenticate(request: Request) -> Principal:
    """The caller behind this request (401 when keys are configured and none or a wrong one is given)."""
    return ANONYMOUS


def require(scope: str):
    """Dependency: the caller, checked for `scope` and for the collection named in the path, if any."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")

    def dependency(request: Request) -> Principal:
        collection = request.path_params.get("name") or request.path_params.get("collection")
        return authenticate(request).ensure(scope, collection)

    return dependency
