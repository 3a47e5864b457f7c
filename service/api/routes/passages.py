"""A passage in its context, for the search page's document view (a whole document can be megabytes)."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from service.api.auth import require
from service.api.deps import CollectionDep, StateDep
from service.api.routes.documents import DocId
from service.api.schemas import PassageInContext

router = APIRouter(prefix="/v1/collections/{name}/passages", tags=["documents"])


@router.get("/{doc_id:path}", response_model=PassageInContext, dependencies=[Depends(require("read"))])
def passage_in_context(
    doc_id: DocId,
    collection: CollectionDep,
    state: StateDep,
    start: Annotated[int, Query(ge=0, le=2**53, description="a hit's start (characters)")] = 0,
    end: Annotated[int, Query(ge=0, le=2**53, description="a hit's end")] = 0,
    context: Annotated[int, Query(ge=0, le=20_000, description="characters of context on each side")] = 1500,
) -> PassageInContext:
    """The text from `start` to `end` of a document, with up to `context` characters around it."""
    return state.passage(collection, doc_id, start, end, context)
