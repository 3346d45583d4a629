"""Wire models of the SDK-only v3 operations (DIGEST §9, last rows; no section in 003).

Names and shapes come from the SDK models: ``BatchImportSmnInfoReq``, ``QueryAvailableNodeTypeReq``,
``LtsInfo``/``LtsInfoJob`` and ``ModifyTuningParamsReq``.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints, field_validator, model_validator

from opendrs.api.wire.base import JobId, LenientBool, LenientInt, LenientStr, WireModel
from opendrs.api.wire.jobs import JobDirection, NodeType, Subscription
from opendrs.errors import EmptyParameter
from opendrs.jobs.service import check_unique
from opendrs.jobs.states import JobStatus

LtsId = Annotated[str, StringConstraints(max_length=64, pattern=r"^[0-9A-Za-z_-]*$")]


class SelectedSetAlarmTaskReq(WireModel):
    """One task of ``batch_set_smn``; ``status``/``engine_type`` are what the caller believes."""

    job_id: JobId
    status: JobStatus | None = None
    engine_type: str | None = Field(default=None, max_length=64)


class BatchSetAlarmNotifyInfo(WireModel):
    """Alarm settings applied to every listed task (thresholds in seconds, as 4.1.4)."""

    subscriptions: list[Subscription] | None = Field(default=None, max_length=2)
    topic_urn: str | None = Field(default=None, max_length=256)
    delay_time: LenientInt | None = Field(default=None, ge=0, le=3600)
    rto_delay: LenientInt | None = Field(default=None, ge=0, le=3600)
    rpo_delay: LenientInt | None = Field(default=None, ge=0, le=3600)
    alarm_to_user: LenientBool | None = None

    @model_validator(mode="after")
    def _recipient(self) -> BatchSetAlarmNotifyInfo:
        if self.alarm_to_user and not self.subscriptions and not self.topic_urn:
            raise EmptyParameter("subscriptions", detail="alarm_to_user needs subscriptions or a topic_urn")
        return self


class BatchImportSmnInfoReq(WireModel):
    jobs: list[SelectedSetAlarmTaskReq] = Field(min_length=1, max_length=100)
    alarm_notify_info: BatchSetAlarmNotifyInfo

    @field_validator("jobs")
    @classmethod
    def _unique(cls, value: list[SelectedSetAlarmTaskReq]) -> list[SelectedSetAlarmTaskReq]:
        check_unique([j.job_id for j in value], "job_id")
        return value


class QueryAvailableZoneReq(WireModel):
    """``list_available_zone`` body (SDK ``QueryAvailableNodeTypeReq``)."""

    engine_type: str = Field(min_length=1, max_length=64)
    # The SDK docstring says "dataGuard" for DR; 4.1.1 says "cloudDataGuard". Both are accepted.
    db_use_type: str = Field(min_length=1, max_length=32)
    job_direction: JobDirection
    node_type: NodeType | None = None
    multi_write: LenientBool | None = None


class LtsInfoJob(WireModel):
    log_group_id: LtsId | None = None
    log_stream_id: LtsId | None = None
    lts_enabled: LenientBool

    @model_validator(mode="after")
    def _ids(self) -> LtsInfoJob:
        if self.lts_enabled:
            for name in ("log_group_id", "log_stream_id"):
                if not getattr(self, name):
                    raise EmptyParameter(name, detail="enabling LTS needs a log group and a log stream")
        return self


class LtsInfo(WireModel):
    job: LtsInfoJob


class ModifyTuningParamsReq(WireModel):
    """Parameter name -> value per group; ``recovery`` = reset every group to its defaults first."""

    full_sync: dict[str, LenientStr] | None = Field(default=None, max_length=64)
    incre_capture: dict[str, LenientStr] | None = Field(default=None, max_length=64)
    incre_apply: dict[str, LenientStr] | None = Field(default=None, max_length=64)
    incre_relay: dict[str, LenientStr] | None = Field(default=None, max_length=64)
    recovery: LenientBool | None = None

    def groups(self) -> dict[str, dict[str, str]]:
        return {g: v for g in ("full_sync", "incre_capture", "incre_apply", "incre_relay")
                if (v := getattr(self, g))}
