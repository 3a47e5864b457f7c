"""Admin routes for backups: snapshot a collection into the data dir's snapshots/ folder, list, restore.

The snapshot directories are the same as `quarry snapshot` makes (see indexer.backup): copy one elsewhere to
keep it, or to restore it on another machine with `quarry restore`.
"""

from __future__ import annotations

import time
from typing import Annotated

from anyio import to_thread
from fastapi import APIRouter, Depends

from indexer.backup import SnapshotError, SnapshotInfo
from indexer.catalog import validate_name
from service.api.auth import Principal, require
from service.api.deps import CollectionName, StateDep
from service.api.errors import ApiError
from service.api.schemas import CollectionInfo, RestoreRequest, SnapshotCreate, SnapshotList, SnapshotOut

router = APIRouter(tags=["backups"])
Admin = Annotated[Principal, Depends(require("admin"))]


def _out(name: str, info: SnapshotInfo) -> SnapshotOut:
    return SnapshotOut(snapshot=name, **vars(info))


@router.post("/v1/collections/{name}/snapshots", response_model=SnapshotOut, status_code=201, dependencies=[Depends(require("admin"))])
async def create_snapshot(name: CollectionName, state: StateDep, body: SnapshotCreate | None = None) -> SnapshotOut:
    """A consistent copy of the collection (taken beside running writes) under <data_dir>/snapshots/."""
    snapshot = validate_name((body.snapshot if body else None) or f"{name}-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}")
    out = state.snapshots_dir / snapshot
    if out.exists():
        raise ApiError(409, "snapshot_exists", f"snapshot {snapshot!r} already exists; choose another name")
    info = await to_thread.run_sync(state.runtime.catalog.snapshot, validate_name(name), out)
    return _out(snapshot, info)


@router.get("/v1/snapshots", response_model=SnapshotList, dependencies=[Depends(require("admin"))])
def list_snapshots(state: StateDep) -> SnapshotList:
    found = []
    if state.snapshots_dir.is_dir():
        for path in sorted(state.snapshots_dir.iterdir()):
            try:
                found.append(_out(path.name, SnapshotInfo.read(path)))
            except SnapshotError:
                continue  # a partial copy or a foreign folder: not a snapshot
    return SnapshotList(snapshots=found)


@router.post("/v1/snapshots/{snapshot}/restore", response_model=CollectionInfo, status_code=201)
async def restore_snapshot(snapshot: CollectionName, principal: Admin, state: StateDep, body: RestoreRequest | None = None) -> CollectionInfo:
    """Restore a snapshot of <data_dir>/snapshots/ as a new collection (its own name, or `collection`)."""
    path = state.snapshots_dir / validate_name(snapshot)
    if not path.is_dir():
        raise ApiError(404, "snapshot_not_found", f"no snapshot {snapshot!r}; GET /v1/snapshots lists them")
    target = (body.collection if body else None) or SnapshotInfo.read(path).collection
    principal.ensure("admin", target)
    collection = await to_thread.run_sync(state.runtime.catalog.restore, path, target)
    return state.collection_info(collection)
