"""Dependencies routes ask for: the app's state and an opened collection."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request

from indexer.collection import Collection
from service.api.state import ApiState


def get_state(request: Request) -> ApiState:
    return request.app.state.quarry


StateDep = Annotated[ApiState, Depends(get_state)]


def get_collection(state: StateDep, name: Annotated[str, Path(description="collection name")]) -> Collection:
    """404 for an unknown collection, 409 when it was built with another embedder."""
    return state.collection(name)


CollectionDep = Annotated[Collection, Depends(get_collection)]
