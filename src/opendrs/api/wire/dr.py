"""Wire models of the disaster-recovery APIs (003 §4.4.1–§4.4.5).

The bodies are task-ID lists (SDK ``BatchSwitchoverReq``, ``BatchQueryRpoAndRtoReq``,
``BatchQueryJobReq``, ``BatchQueryJobReqPage``); a repeated ID is rejected once for the whole
request (DRS.M00301) because per-item answers for the same task would contradict each other.
"""

from __future__ import annotations

from typing import Literal

from pydantic import field_validator

from opendrs.api.wire.base import JobIdList, LenientBool, WireModel
from opendrs.api.wire.jobs import PageReq
from opendrs.jobs.service import check_unique

# 4.4.5 path ``type``.
StructType = Literal[
    "database", "schema", "table", "view", "procedure", "trigger", "index", "table_indexes", "table_structure"
]


def _unique(value: list[str]) -> list[str]:
    check_unique(value, "job_id")
    return value


class DrJobsReq(WireModel):
    """``{"jobs": [ids]}`` of 4.4.2, 4.4.3 and 4.4.4."""

    jobs: JobIdList

    _unique = field_validator("jobs")(_unique)


class BatchSwitchoverReq(WireModel):
    """4.4.1; ``is_pause_job`` (SDK only): pause the task after the switchover."""

    jobs: JobIdList
    is_pause_job: LenientBool = False

    _unique = field_validator("jobs")(_unique)


class BatchQueryJobReqPage(WireModel):
    """4.4.5 body: ``jobs`` plus optional ``page_req`` (per_page 0 = all)."""

    jobs: JobIdList
    page_req: PageReq | None = None

    _unique = field_validator("jobs")(_unique)
