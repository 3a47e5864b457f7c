from typing import Annotated

from fastapi import APIRouter, Depends, Request

from service.api.auth import require
from service.api.deps import CollectionDep
from service.api.schemas import JobCreate, JobError, JobInfo, JobList, JobProgress
from service.jobs import Job, JobManager

router = APIRouter(prefix="/v1/collections/{name}/jobs", tags=["jobs"])


def get_jobs(request: Request) -> JobManager:
    return request.app.state.jobs


JobsDep = Annotated[JobManager, Depends(get_jobs)]
Write = Depends(require("write"))
Read = Depends(require("read"))


def job_info(job: Job) -> JobInfo:
    progress = JobProgress(
        documents_done=job.documents_done, documents_total=job.documents_total, chunks=job.chunks, added=job.added,
        updated=job.updated, unchanged=job.unchanged, skipped=job.skipped, elapsed_s=job.elapsed_s,
        rate_docs_per_s=job.rate, eta_s=None if job.eta_s is None else round(job.eta_s, 1),
    )  # fmt: skip
    return JobInfo(
        id=job.id, collection=job.collection, path=job.path, state=job.state, created_at=job.created_at,
        started_at=job.started_at, finished_at=job.finished_at, runs=job.runs, cancel_requested=job.cancel_requested,
        message=job.message, progress=progress, errors=[JobError(file=f, message=m) for f, m in job.errors.items()],
    )  # fmt: skip


@router.post("", response_model=JobInfo, status_code=202, dependencies=[Write])
def create_job(body: JobCreate, collection: CollectionDep, jobs: JobsDep) -> JobInfo:
    """Index a server folder or file (under QUARRY_JOB_ROOTS) in the background; poll the job for progress."""
    return job_info(jobs.submit(collection.name, body.path))


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
