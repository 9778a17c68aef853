"""The background jobs' endpoints, under /index: start a full rebuild, and poll it or any other job (a large
document or batch answered 202)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from qa.api.deps import Reader, Service, Writer
from qa.api.errors import bulk_indexed
from qa.service import jobs
from qa.wire import ErrorBody, Job, JobList

router = APIRouter(prefix="/index", tags=["index"])
FROM_FOLDER = (
    "With Milvus: rebuild from this server's docs folder even where it differs from what Milvus holds (documents "
    "other replicas wrote are dropped, documents deleted through them come back). Without Milvus it changes nothing."
)
_ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": ErrorBody} for code in (401, 403, 404, 409)}


@router.post("/rebuild", status_code=202, response_model=Job, responses=_ERRORS, dependencies=[Writer])
def rebuild(service: Service, from_folder: Annotated[bool, Query(description=FROM_FOLDER)] = False) -> Job:
    """Re-embed every document of the docs folder. Searches keep using the current index until the new one is live.

    With Milvus, 409 when this server's docs folder lacks documents (or versions) stored there, or holds some
    deleted there: other replicas wrote them, and a rebuild from this folder would lose them."""
    return Job.model_validate(service.start_rebuild(from_folder=from_folder))


@router.get("/jobs", response_model=JobList, responses=_ERRORS, dependencies=[Reader])
def list_jobs(service: Service) -> JobList:
    return JobList(jobs=[_wire(j) for j in service.jobs.list()])


@router.get("/jobs/{job_id}", response_model=Job, responses=_ERRORS, dependencies=[Reader])
def job(job_id: str, service: Service) -> Job:
    return _wire(service.jobs.get(job_id))


def _wire(job: jobs.Job) -> Job:
    """A job as clients read it: a batch's outcomes carry their HTTP status, as the bulk endpoint's do."""
    if job.kind == "documents" and job.result is not None:
        return Job.model_validate(job).model_copy(update={"result": bulk_indexed(job.result)})
    return Job.model_validate(job)
