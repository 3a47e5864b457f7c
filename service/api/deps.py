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


def get_collection(state: StateDep, name: CollectionName) -> Collection:
    """404 for an unknown collection, 409 when it was built with another embedder."""
    return state.collection(name)


CollectionDep = Annotated[Collection, Depends(get_collection)]
