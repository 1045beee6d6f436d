"""Backtest jobs: POST starts one (202), GET follows it, DELETE cancels it. Starting and cancelling
need the bearer token; starts are rate-limited per client."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse

from adaptrade.api.models import BacktestBody, JobState, Problem
from adaptrade.api.security import require_read, require_write

router = APIRouter(prefix="/api/v1", responses={401: {"model": Problem, "description": "No bearer token."},
                              403: {"model": Problem, "description": "Wrong bearer token."}})
JOB_ID = PathParam(..., min_length=1, max_length=100, description="Job id.")


@router.post("/backtests", status_code=202, response_model=JobState, dependencies=[Depends(require_write)],
             responses={413: {"model": Problem}, 422: {"model": Problem}, 429: {"model": Problem}},
             summary="Start a backtest job (the fields of `adaptrade backtest`'s flags).")
def start_backtest(body: BacktestBody, request: Request) -> Any:
    svc = request.app.state.service
    client = request.client.host if request.client else "unknown"
    if not svc.job_starts.allow(client):
        raise HTTPException(429, f"at most {svc.settings.api_job_starts_per_minute} backtest starts per minute")
    job = svc.jobs.submit(body.model_dump(mode="json", exclude_none=True), svc.settings)
    return JSONResponse(JobState(**job.view()).model_dump(), status_code=202,
                        headers={"Location": f"{request.url.path}/{job.id}"})


def _job(request: Request, job_id: str) -> Any:
    svc = request.app.state.service
    job = svc.jobs.get(job_id)
    if job is None:
        cached = svc.bus.cached_job(job_id)  # from before a restart of the service
        if cached is not None:
            return cached
        raise HTTPException(404, f"unknown job id '{job_id}'")
    return job.view()


@router.get("/backtests/{job_id}", response_model=JobState, dependencies=[Depends(require_read)],
            responses={404: {"model": Problem}}, summary="A job's state, progress and run id when done.")
def get_backtest(request: Request, job_id: str = JOB_ID) -> JobState:
    return JobState(**_job(request, job_id))


@router.delete("/backtests/{job_id}", response_model=JobState, dependencies=[Depends(require_write)],
               responses={404: {"model": Problem}}, summary="Cancel a queued or running job (a finished job is left as it is).")
def cancel_backtest(request: Request, job_id: str = JOB_ID) -> JobState:
    svc = request.app.state.service
    job = svc.jobs.cancel(job_id)
    if job is None:
        raise HTTPException(404, f"unknown job id '{job_id}'")
    return JobState(**job.view())
