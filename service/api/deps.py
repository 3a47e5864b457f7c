"""Dependencies routes ask for: the app's state and an opened collection."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request

from indexer.collection import Collection
from service.api.schemas import NAME_HELP, NAME_SCHEMA
from service.api.state import ApiState


def get_state(request: Request) -> ApiState:
    return request.app.state.quarry


StateDep = Annotated[ApiState, Depends(get_state)]


CollectionName = Annotated[str, Path(description=NAME_HELP, json_schema_extra=NAME_SCHEMA)]


def get_collection(request: Request, state: StateDep, name: CollectionName) -> Collection:
    """404 for an unknown collection, 409 when it was built with another embedder.

    Only after the caller's key was checked for this collection: a route that forgot to order its auth
    dependency first must not tell an anonymous caller which collections exist."""
    if getattr(request.state, "principal", None) is None:
        from service.api.auth import authenticate

        request.state.principal = authenticate(request).ensure("read", name)
    return state.collection(name)


CollectionDep = Annotated[Collection, Depends(get_collection)]


def client_gone(request: Request):
    """For work in the threadpool: a check that the HTTP client is still there (a batch asks it between queries,
    so a client that hung up stops costing the server)."""
    from anyio import from_thread

    return lambda: from_thread.run(request.is_disconnected)
