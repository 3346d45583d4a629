"""Wire models of the v5 APIs (spec files 001/002 and the SDK v5 models they reference).

Field names follow the ``huaweicloudsdkdrs.v5`` model classes exactly (``base_info``,
``source_endpoint[]{endpoint{...}, cloud, vpc, config, ssl}``, ``db_port`` as a string...).
Query models turn a missing mandatory parameter into M00201 and a bad value into M00202
through the one error handler. The examples send empty strings for unused filters
(``status=&engine_type=``), so every optional filter accepts ``""`` as "no filter".
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, field_validator, model_validator

from opendrs.api.wire.base import LenientBool, LenientInt, LenientStr, WireModel
from opendrs.api.wire.jobs import (
    DbUseType,
    JobDirection,
    NetType,
    PublicIpConfig,
    ResourceTag,
    TaskType,
    check_description,
)
from opendrs.jobs.states import JobStatus

# --- query parameters -------------------------------------------------------------------------

ListJobType = Literal["migration", "sync", "cloudDataGuard", "replay"]
SortDir = Literal["asc", "desc"]
JobSortKey = Literal["name", "status", "create_time", "net_type", "job_direction", "pay_mode"]
AsyncJobStatus = Literal[
    "ASYNC_JOB_VALIDATING", "ASYNC_JOB_VALIDATE_FAILED", "AUTO_PARAM_VALIDATE_SUCCESS", "COMMIT_SUCCESS"
]
Empty = Literal[""]
# SDK v5 limits of the list APIs: default 10, at most 1000 per page (as its other list APIs state).
Offset = Annotated[int, Field(ge=0, le=1_000_000_000)]
Limit = Annotated[int, Field(ge=1, le=1000)]
ShortStr = Annotated[str, StringConstraints(max_length=64)]


class ListJobsQuery(WireModel):
    """GET /v5/{project_id}/jobs (file 001)."""

    job_type: ListJobType
    name: str | None = Field(default=None, max_length=1024)
    status: JobStatus | Empty | None = None
    engine_type: ShortStr | None = None
    net_type: NetType | Empty | None = None
    enterprise_project_id: ShortStr | None = None
    offset: Offset = 0
    limit: Limit = 10
    sort_key: JobSortKey | Empty = "create_time"
    sort_dir: SortDir | Empty = "desc"
    # The spec repeats the parameter (``instance_ids=a&instance_ids=b``); the SDK sends ``a,b``.
    instance_ids: list[Annotated[str, StringConstraints(max_length=2000)]] | None = Field(
        default=None, max_length=10
    )
    instance_ip: ShortStr | None = None

    @field_validator("instance_ids")
    @classmethod
    def _split_ids(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        ids = [p.strip() for v in value for p in v.split(",") if p.strip()]
        if len(ids) > 10 or any(len(i) > 128 for i in ids):
            raise ValueError("at most 10 instance IDs of at most 128 characters")
        return ids

    def names(self) -> list[str]:
        """``name``: one task name, or up to 10 comma-separated task IDs."""
        return [n.strip() for n in (self.name or "").split(",") if n.strip()]


class ListAsyncJobsQuery(WireModel):
    """GET /v5/{project_id}/batch-async-jobs."""

    async_job_id: ShortStr | None = None
    status: AsyncJobStatus | Empty | None = None
    domain_name: ShortStr | None = None
    user_name: ShortStr | None = None
    offset: Offset = 0
    limit: Limit = 10
    sort_key: Literal["create_time"] | Empty = "create_time"
    sort_dir: SortDir | Empty = "desc"


class PageQuery(WireModel):
    """``offset``/``limit`` of GET /v5/{project_id}/batch-async-jobs/{async_job_id} (file 002)."""

    offset: Offset = 0
    limit: Limit = 10


DetailType = Literal[
    "overview", "detail", "network", "precheck", "progress", "log", "compare", "file", "is_writable",
    "cloud_connection", "diagnosis", "diagnosis_history", "repair_progress", "repair_detail",
    "repair_export_status", "db_table_details",
]


class ShowJobDetailQuery(WireModel):
    """GET /v5/{project_id}/jobs/{job_id}: ``type`` picks the part of the task to return."""

    type: DetailType
    query_id: ShortStr | None = None
    offset: Offset = 0
    limit: Limit = 10
    log_level: Literal["Info", "Warn", "Error"] | Empty | None = None


# --- batch-async-create body ------------------------------------------------------------------

# SDK JobBaseInfo: 4-50 letters, digits, "-" or "_" (v5 does not require a leading letter).
V5JobName = Annotated[str, StringConstraints(min_length=4, max_length=50, pattern=r"^[A-Za-z0-9_-]+$")]
V5DbType = Literal[
    "oracle", "gaussdbv5", "redis", "rediscluster", "gaussredis", "mysql", "postgresql", "mongodb"
]
EndpointName = Literal[
    "oracle", "ecs_oracle", "cloud_gaussdbv5", "mysql", "ecs_mysql", "cloud_mysql", "redis", "ecs_redis",
    "rediscluster", "ecs_rediscluster", "cloud_gaussdb_redis", "postgresql", "ecs_postgresql",
    "cloud_postgresql", "mongodb", "ecs_mongodb", "cloud_mongodb",
]
Id = Annotated[str, StringConstraints(max_length=128)]
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class JobBaseInfoReq(WireModel):
    name: V5JobName
    job_type: DbUseType
    multi_write: LenientBool | None = None
    engine_type: str = Field(min_length=1, max_length=64)
    job_direction: JobDirection
    task_type: TaskType = "FULL_INCR_TRANS"
    net_type: NetType
    charging_mode: Literal["period", "on_demand"] = "on_demand"
    # "Not set means null; it may not be an empty string" (SDK).
    enterprise_project_id: str | None = Field(default=None, min_length=1, max_length=64)
    description: str | None = Field(default=None, max_length=256)
    start_time: str | None = Field(default=None, pattern=r"^\d{0,13}$")
    expired_days: LenientStr | None = None
    tags: list[ResourceTag] | None = Field(default=None, max_length=20)
    is_open_fast_clean: LenientBool | None = None

    _desc = field_validator("description")(check_description)

    @field_validator("expired_days")
    @classmethod
    def _expired(cls, value: str | None) -> str | None:
        if value is not None and (not value.isdigit() or not 14 <= int(value) <= 100):
            raise ValueError("expired_days must be 14-100")
        return value

    @model_validator(mode="after")
    def _rules(self) -> JobBaseInfoReq:
        if self.job_type == "cloudDataGuard" and self.multi_write is None:
            raise ValueError("multi_write is mandatory for cloudDataGuard")
        return self


class BaseEndpointReq(WireModel):
    id: Id | None = None
    endpoint_name: EndpointName
    ip: str | None = Field(default=None, max_length=1024)
    db_port: LenientStr | None = Field(default=None, pattern=r"^\d{1,5}$")
    db_user: str = Field(min_length=1, max_length=128)
    db_password: str = Field(min_length=1, max_length=1024)
    instance_id: Id | None = None
    instance_name: Id | None = None
    db_name: str | None = Field(default=None, max_length=128)
    source_sharding: list[dict[str, Any]] | None = Field(default=None, max_length=64)

    @field_validator("db_port")
    @classmethod
    def _port(cls, value: str | None) -> str | None:
        if value is not None and not 1 <= int(value) <= 65535:
            raise ValueError("db_port must be 1-65535")
        return value


class CloudBaseInfoReq(WireModel):
    region: Id | None = None
    project_id: Id | None = None
    az_code: str | None = Field(default=None, max_length=256)


class CloudVpcInfoReq(WireModel):
    vpc_id: Id | None = None
    subnet_id: Id | None = None
    security_group_id: Id | None = None


class BaseEndpointConfigReq(WireModel):
    is_target_readonly: LenientBool | None = None
    node_num: LenientInt | None = Field(default=None, ge=1, le=16)


class EndpointSslConfigReq(WireModel):
    ssl_link: LenientBool | None = None
    ssl_cert_name: str | None = Field(default=None, max_length=256)
    ssl_cert_key: str | None = Field(default=None, max_length=65536)
    ssl_cert_check_sum: str | None = Field(default=None, max_length=256)
    ssl_cert_password: str | None = Field(default=None, max_length=1024)


class CustomizedDnsReq(WireModel):
    is_set_dns: LenientBool | None = None
    set_dns_action: Literal["add", "keep", "update", "recover"] | None = None
    dns_ip: str | None = Field(default=None, max_length=15)


class JobEndpointInfoReq(WireModel):
    db_type: V5DbType
    endpoint_type: Literal["offline", "ecs", "cloud"]
    endpoint_role: Literal["so", "ta"]
    endpoint: BaseEndpointReq
    cloud: CloudBaseInfoReq | None = None
    vpc: CloudVpcInfoReq | None = None
    config: BaseEndpointConfigReq | None = None
    ssl: EndpointSslConfigReq | None = None
    customized_dns: CustomizedDnsReq | None = None


class AlarmNotifyConfigReq(WireModel):
    alarm_to_user: LenientBool = False
    topic_urn: str | None = Field(default=None, max_length=512)
    delay_time: LenientInt | None = Field(default=None, ge=0, le=3600)
    rpo_delay: LenientInt | None = Field(default=None, ge=0, le=3600)
    rto_delay: LenientInt | None = Field(default=None, ge=0, le=3600)


class SpeedLimitInfoReq(WireModel):
    """UTC hh:mm; the begin minutes are ignored and the end must end in 59 (4.1.8 rules)."""

    begin: str
    end: str
    speed: LenientStr = Field(pattern=r"^\d{1,4}$")

    @field_validator("begin", "end")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        if not _HHMM.match(value):
            raise ValueError("time must be hh:mm")
        return value

    @model_validator(mode="after")
    def _rules(self) -> SpeedLimitInfoReq:
        if not self.end.endswith(":59"):
            raise ValueError("end must end with :59")
        if not 1 <= int(self.speed) <= 9999:
            raise ValueError("speed must be 1-9999 MB/s")
        return self


class UserMigrationListReq(WireModel):
    id: Id | None = None
    account: str = Field(min_length=1, max_length=256)
    is_set_password: LenientBool | None = None
    password: str | None = Field(default=None, max_length=1024)


class UserMigrationRoleReq(WireModel):
    role: str = Field(min_length=1, max_length=256)


class UserMigrationInfoReq(WireModel):
    is_migrate_user: LenientBool | None = None
    is_set_password: LenientBool | None = None
    password: str | None = Field(default=None, max_length=1024)
    user_list: list[UserMigrationListReq] | None = Field(default=None, max_length=10000)
    role_list: list[UserMigrationRoleReq] | None = Field(default=None, max_length=10000)


class PolicyConfigReq(WireModel):
    filter_ddl_policy: Literal["drop_database"] | Empty | None = None
    conflict_policy: Literal["ignore", "stop", "overwrite"] | None = None
    index_trans: LenientBool | None = None
    ddl_trans: LenientBool | None = None
    data_sync_topology_type: Literal["one2one", "one2many", "many2one"] | None = None
    support_ddl_info: str | None = Field(default=None, max_length=1024)
    sync_type_policy: str | None = Field(default=None, max_length=256)
    increment_read_mode: Literal["logminer", "xstream"] | None = None
    dml_types: str | None = Field(default=None, max_length=256)
    is_create_table_with_index: LenientBool | None = None


class TargetRootDbReq(WireModel):
    db_name: str | None = Field(default=None, max_length=128)
    db_encoding: str | None = Field(default=None, max_length=32)


class DbObjectReq(WireModel):
    """Objects to replicate; ``object_info`` (db name -> DatabaseObject) unless the scope is ``all``."""

    object_scope: Literal["all", "database", "table"]
    target_root_db: TargetRootDbReq | None = None
    object_info: dict[str, dict[str, Any]] | None = None

    @model_validator(mode="after")
    def _rules(self) -> DbObjectReq:
        if self.object_scope != "all" and not self.object_info:
            raise ValueError("object_info is mandatory for database/table scope")
        return self


class DbParamReq(WireModel):
    key: str = Field(min_length=1, max_length=128)
    target_value: LenientStr = Field(max_length=1024)


class DbParamInfoReq(WireModel):
    common: list[DbParamReq] | None = Field(default=None, max_length=200)
    performance: list[DbParamReq] | None = Field(default=None, max_length=200)


class TuningParameterReq(WireModel):
    param_name: str = Field(min_length=1, max_length=128)
    param_value: LenientStr = Field(max_length=1024)
    availability: LenientBool | None = None


class TuningParamInfoReq(WireModel):
    full_sync: list[TuningParameterReq] | None = Field(default=None, max_length=200)
    incre_capture: list[TuningParameterReq] | None = Field(default=None, max_length=200)
    incre_apply: list[TuningParameterReq] | None = Field(default=None, max_length=200)
    incre_relay: list[TuningParameterReq] | None = Field(default=None, max_length=200)


class PeriodOrderInfoReq(WireModel):
    period_type: Literal[2, 3]
    period_num: int = Field(ge=1, le=9)
    is_auto_renew: Literal[0, 1] = 0


class JobNodeSpecInfoReq(WireModel):
    node_type: Literal["micro", "small", "medium", "high"]


class JobNodeVpcInfoReq(WireModel):
    vpc_id: Id | None = None
    subnet_id: Id | None = None
    custom_node_ip: str | None = Field(default=None, max_length=256)
    security_group_id: Id | None = None


class JobNodeBaseInfoReq(WireModel):
    instance_type: Literal["single", "ha"] | None = None
    arch: Literal["x86", "arm"] | None = None
    availability_zone: str | None = Field(default=None, max_length=256)


class JobNodeInfoReq(WireModel):
    spec: JobNodeSpecInfoReq
    vpc: JobNodeVpcInfoReq | None = None
    base_info: JobNodeBaseInfoReq | None = None


class AsyncCreateJobReq(WireModel):
    """One task of batch-async-create; mandatory parts are the ones the SDK model requires."""

    base_info: JobBaseInfoReq
    source_endpoint: list[JobEndpointInfoReq] = Field(min_length=1, max_length=32)
    target_endpoint: list[JobEndpointInfoReq] = Field(min_length=1, max_length=32)
    alarm_notify: AlarmNotifyConfigReq | None = None
    speed_limit: list[SpeedLimitInfoReq] | None = Field(default=None, max_length=24)
    user_migration: UserMigrationInfoReq | None = None
    policy_config: PolicyConfigReq
    db_object: DbObjectReq
    db_param: DbParamInfoReq | None = None
    tuning_params: TuningParamInfoReq | None = None
    period_order: PeriodOrderInfoReq | None = None
    node_info: JobNodeInfoReq
    public_ip_list: list[PublicIpConfig] | None = Field(default=None, max_length=2)


class BatchAsyncCreateJobReq(WireModel):
    jobs: list[AsyncCreateJobReq] = Field(min_length=1, max_length=100)
