from fastapi import APIRouter

from service.api.deps import CollectionDep, StateDep
from service.api.schemas import CollectionCreate, CollectionInfo, CollectionList, Deleted

router = APIRouter(prefix="/v1/collections", tags=["collections"])


@router.get("", response_model=CollectionList)
def list_collections(state: StateDep) -> CollectionList:
    return CollectionList(collections=state.list_collections())


@router.post("", response_model=CollectionInfo, status_code=201)
def create_collection(body: CollectionCreate, state: StateDep) -> CollectionInfo:
    """Create an empty collection with the configured embedder (409 if the name is taken)."""
    return state.collection_info(state.create_collection(body))


@router.get("/{name}", response_model=CollectionInfo)
def get_collection(collection: CollectionDep, state: StateDep) -> CollectionInfo:
    return state.collection_info(collection)


@router.delete("/{name}", response_model=Deleted)
def delete_collection(name: str, state: StateDep) -> Deleted:
    """Delete the collection and everything in it."""
    state.delete_collection(name)
    return Deleted(deleted=name)
