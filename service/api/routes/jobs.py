import re
import shutil
from typing import Annotated

from anyio import to_thread
from fastapi import APIRouter, Depends, Query, Request

from indexer.catalog import validate_name
from indexer.errors import InvalidName
from service.api.auth import require
from service.api.deps import CollectionDep, StateDep
from service.api.errors import ApiError, payload_too_large
from service.api.schemas import NAME_HELP, JobCreate, JobError, JobInfo, JobList, JobProgress
from service.jobs.archives import extract_archive
from service.jobs.manager import Job, JobManager

router = APIRouter(prefix="/v1/collections/{name}/jobs", tags=["jobs"])


def get_jobs(request: Request) -> JobManager:
    return request.app.state.jobs


JobsDep = Annotated[JobManager, Depends(get_jobs)]
# the body-size middleware lets this route stream its body past QUARRY_MAX_BODY_BYTES (it counts it itself)
ARCHIVE_ROUTE = re.compile(r"^/v1/collections/[^/]+/jobs/archive$")
ARCHIVE_TYPES = (
    "application/zip", "application/gzip", "application/x-gzip", "application/x-tar", "application/x-gtar",
    "application/octet-stream",  # the format is read from the bytes; the type only guards against a JSON or form body
)  # fmt: skip
Write = Depends(require("write"))
Read = Depends(require("read"))


def job_info(job: Job) -> JobInfo:
    progress = JobProgress(
        documents_done=job.documents_done, documents_total=job.documents_total, chunks=job.chunks,
        chunks_embedded=job.chunks_embedded, chunks_estimate=job.chunks_estimate, added=job.added,
        updated=job.updated, unchanged=job.unchanged, skipped=job.skipped, elapsed_s=job.elapsed_s,
        rate_docs_per_s=job.rate, eta_s=None if job.eta_s is None else round(job.eta_s, 1),
    )  # fmt: skip
    return JobInfo(
        id=job.id, collection=job.collection, path=job.path, source="archive" if job.upload else "path", state=job.state, created_at=job.created_at,
        started_at=job.started_at, finished_at=job.finished_at, runs=job.runs, cancel_requested=job.cancel_requested,
        message=job.message, progress=progress, errors=[JobError(file=f, message=m) for f, m in job.errors.items()],
    )  # fmt: skip


@router.post("", response_model=JobInfo, status_code=202, dependencies=[Write])
def create_job(body: JobCreate, collection: CollectionDep, jobs: JobsDep) -> JobInfo:
    """Index a server folder or file (under QUARRY_JOB_ROOTS) in the background; poll the job for progress."""
    return job_info(jobs.submit(collection.name, body.path))


@router.post(
    "/archive", response_model=JobInfo, status_code=202, dependencies=[Write],
    openapi_extra={"requestBody": {"required": True, "content": {t: {"schema": {"type": "string", "format": "binary"}} for t in ARCHIVE_TYPES}}},
)  # fmt: skip
async def create_archive_job(
    request: Request,
    collection: CollectionDep,
    jobs: JobsDep,
    state: StateDep,
    folder: Annotated[
        str, Query(alias="name", description=f"folder name: document ids become <name>/<path in the archive>. {NAME_HELP}")
    ] = "upload",
) -> JobInfo:
    """Index an uploaded zip or tar(.gz) archive (the raw body) in the background; needs no QUARRY_JOB_ROOTS.

    413 when the body, the number of entries or the unpacked size is over its limit; 415 for another
    Content-Type; 422 when the body is not a readable archive or a member is unsafe (absolute, `..`, link).
    """
    try:
        validate_name(folder)  # query ?name=; the path's {name} is the collection
    except InvalidName:
        raise ApiError(422, "invalid_name", f"invalid folder name {folder!r}: {NAME_HELP}", param="name") from None
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in ARCHIVE_TYPES:
        raise ApiError(
            415, "unsupported_media_type",
            f"Content-Type {content_type or 'none'!r} is not an archive; send the raw zip or tar(.gz) body with"
            f" one of: {', '.join(ARCHIVE_TYPES)}",
        )  # fmt: skip
    settings = state.settings
    job_id = jobs.new_id()
    workdir = jobs.upload_dir(job_id)
    try:
        await to_thread.run_sync(lambda: workdir.mkdir(parents=True))
        archive = workdir / ".body"  # no valid folder name starts with a dot
        await save_body(request, archive, settings.max_upload_bytes)
        unpacked = workdir / folder
        await to_thread.run_sync(
            extract_archive, archive, unpacked, settings.max_archive_files, settings.max_archive_unpacked_bytes
        )
        archive.unlink()
        return job_info(jobs.submit_upload(collection.name, job_id, unpacked))
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise


async def save_body(request: Request, target, limit: int) -> int:
    """Stream the request body to `target`, refusing it (413) once more than `limit` bytes arrived."""
    size = 0
    with target.open("wb") as out:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise payload_too_large(
                    f"request body is over {limit} bytes, the limit for archive uploads (QUARRY_MAX_UPLOAD_BYTES)"
                )
            await to_thread.run_sync(out.write, chunk)
    return size


@router.get("", response_model=JobList, dependencies=[Read])
def list_jobs(name: str, jobs: JobsDep) -> JobList:
    return JobList(jobs=[job_info(job) for job in jobs.list_jobs(name)])


@router.get("/{job_id}", response_model=JobInfo, dependencies=[Read])
def get_job(name: str, job_id: str, jobs: JobsDep) -> JobInfo:
    """Progress: documents done/total, chunks, rate, ETA, and the files that failed."""
    return job_info(jobs.get(name, job_id))


@router.delete("/{job_id}", response_model=JobInfo, dependencies=[Write])
def delete_job(name: str, job_id: str, jobs: JobsDep) -> JobInfo:
    """Cancel: a queued job at once, a running one after its current batch (what it committed stays)."""
    return job_info(jobs.cancel(name, job_id))


@router.post("/{job_id}/cancel", response_model=JobInfo, dependencies=[Write])
def cancel_job(name: str, job_id: str, jobs: JobsDep) -> JobInfo:
    """Same as DELETE."""
    return job_info(jobs.cancel(name, job_id))
