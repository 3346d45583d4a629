"""User-migration APIs: choose the users/roles to migrate (4.2.1), list the source's (4.2.2)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Path

from opendrs.api.deps import Caller, Svc
from opendrs.api.wire.config import BatchUpdateSrcUserReq
from opendrs.errors import DrsError
from opendrs.jobs import configure
from opendrs.jobs.service import per_item

router = APIRouter(tags=["users"])
JOB_ID_PATTERN = r"^[0-9A-Za-z_-]+$"  # as wire.base.JobId


@router.put("/jobs/batch-update-user")
def batch_update_user(body: BatchUpdateSrcUserReq, svc: Svc, caller: Caller) -> dict[str, Any]:
    """4.2.1: stored in the task; passwords sealed at rest and masked in the answer."""
    reqs = [j.model_dump() for j in body.jobs]
    configure.check_unique_ids([r["job_id"] for r in reqs])
    for r in reqs:
        configure.check_users(r)

    def fail(req: dict[str, Any], exc: DrsError) -> dict[str, Any]:
        # QueryUserResp has no error fields; ``message`` carries the code (003 Table 4-255), the
        # extra error_code/error_msg say what went wrong.
        return {"job_id": req["job_id"], "is_success": False, "message": exc.error_code,
                "error_code": exc.error_code, "error_msg": exc.error_msg}

    results = per_item(reqs, lambda r: configure.update_users(svc, caller.project_id, r), fail)
    return {"all_counts": len(results), "results": results}


@router.get("/jobs/{job_id}/get-src-user")
def list_users(svc: Svc, caller: Caller,
               job_id: str = Path(min_length=1, max_length=64, pattern=JOB_ID_PATTERN)) -> dict[str, Any]:
    """4.2.2: the source database's users and roles (read by the task's engine)."""
    return configure.list_users(svc, caller.project_id, job_id)
