from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from service.api.auth import require
from service.api.deps import CollectionDep, StateDep
from service.api.schemas import (
    BatchWritten,
    Deleted,
    DocumentBatch,
    DocumentBody,
    DocumentIn,
    DocumentList,
    DocumentOut,
    DocumentWritten,
)
from service.api.schemas import DOC_ID_HELP, DOC_ID_PATTERN, MAX_DOC_ID_LENGTH

router = APIRouter(prefix="/v1/collections/{name}/documents", tags=["documents"])


DocId = Annotated[str, Path(min_length=1, max_length=MAX_DOC_ID_LENGTH, pattern=DOC_ID_PATTERN, description=DOC_ID_HELP)]
READ = [Depends(require("read"))]
WRITE = [Depends(require("write"))]


@router.post("", response_model=BatchWritten, dependencies=WRITE)
def upsert_documents(body: DocumentBatch, collection: CollectionDep, state: StateDep) -> BatchWritten:
    """Upsert many documents in one transaction; searchable when this returns."""
    return state.upsert(collection, body.documents)


@router.get("", response_model=DocumentList, dependencies=READ)
def list_documents(
    collection: CollectionDep,
    state: StateDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=2**53)] = 0,  # SQLite integers are 64-bit
) -> DocumentList:
    return state.list_documents(collection, limit, offset)


# {doc_id:path}: ids derived from files contain slashes, e.g. corpus/guide.md
@router.put("/{doc_id:path}", response_model=DocumentWritten, dependencies=WRITE)
def upsert_document(doc_id: DocId, body: DocumentBody, collection: CollectionDep, state: StateDep) -> DocumentWritten:
    """Insert or replace one document: chunked and embedded before the response, which says how many chunks."""
    document = DocumentIn(doc_id=doc_id, **body.model_dump())
    return state.upsert(collection, [document]).documents[0]


@router.get("/{doc_id:path}", response_model=DocumentOut, dependencies=READ)
def get_document(doc_id: DocId, collection: CollectionDep, state: StateDep) -> DocumentOut:
    return state.get_document(collection, doc_id)


@router.delete("/{doc_id:path}", response_model=Deleted, dependencies=WRITE)
def delete_document(doc_id: DocId, collection: CollectionDep, state: StateDep) -> Deleted:
    state.delete_document(collection, doc_id)
    return Deleted(deleted=doc_id, collection=collection.name)
