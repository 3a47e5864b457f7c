from typing import Annotated

from fastapi import APIRouter, Depends

from service.api.auth import Principal, require
from service.api.deps import CollectionDep, CollectionName, StateDep
from service.api.schemas import CollectionCreate, CollectionInfo, CollectionList, Deleted

router = APIRouter(prefix="/v1/collections", tags=["collections"])


@router.get("", response_model=CollectionList)
def list_collections(principal: Annotated[Principal, Depends(require("read"))], state: StateDep) -> CollectionList:
    """The collections this API key may use."""
    return CollectionList(collections=state.list_collections(principal.can_access))


@router.post("", response_model=CollectionInfo, status_code=201)
def create_collection(
    principal: Annotated[Principal, Depends(require("admin"))], body: CollectionCreate, state: StateDep
) -> CollectionInfo:
    """Create an empty collection with the configured embedder (409 if the name is taken)."""
    principal.ensure("admin", body.name)
    return state.collection_info(state.create_collection(body))


@router.get("/{name}", response_model=CollectionInfo, dependencies=[Depends(require("read"))])
def get_collection(collection: CollectionDep, state: StateDep) -> CollectionInfo:
    return state.collection_info(collection)


@router.delete("/{name}", response_model=Deleted, dependencies=[Depends(require("admin"))])
def delete_collection(name: CollectionName, state: StateDep) -> Deleted:
    """Delete the collection and everything in it."""
    state.delete_collection(name)
    return Deleted(deleted=name)
