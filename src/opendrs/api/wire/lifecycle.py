"""Wire models of the lifecycle APIs: pre-check, start, resume/retry, pause (4.1.6, 4.1.7, 4.1.11-4.1.13)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field

from opendrs.api.wire.base import JobId, JobIdList, LenientBool, WireModel


def _ms_to_str(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


class PreCheckInfo(WireModel):
    job_id: JobId
    precheck_mode: Literal["forStartJob", "forRetryJob"]


class BatchPrecheckReq(WireModel):
    jobs: list[PreCheckInfo] = Field(min_length=1, max_length=100)


class BatchQueryPrecheckResultReq(WireModel):
    """4.1.7: task IDs, not empty and unique."""

    jobs: JobIdList


# Epoch milliseconds as a string ("1608188903063"); empty means now.
StartTime = Annotated[str, BeforeValidator(_ms_to_str), Field(max_length=13, pattern=r"^[0-9]*$")]


class StartInfo(WireModel):
    job_id: JobId
    start_time: StartTime | None = None
    is_only_init_task: LenientBool | None = None
    is_auto_create_compare: LenientBool | None = None


class BatchStartJobReq(WireModel):
    jobs: list[StartInfo] = Field(min_length=1, max_length=100)


class RetryInfo(WireModel):
    job_id: JobId
    is_sync_re_edit: LenientBool | None = None


class BatchRetryReq(WireModel):
    jobs: list[RetryInfo] = Field(min_length=1, max_length=100)


class PauseInfo(WireModel):
    job_id: JobId
    # target: stop replay; all: stop capture and replay. Default "all" when omitted.
    pause_mode: Literal["target", "all"] = "all"


class BatchPauseJobReq(WireModel):
    jobs: list[PauseInfo] = Field(min_length=1, max_length=100)
