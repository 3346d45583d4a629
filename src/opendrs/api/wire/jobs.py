"""Wire models of the task APIs: create, connect, modify, delete, passwords, list, detail."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, StringConstraints, field_validator, model_validator

from opendrs.api.wire.base import JobId, JobIdList, LenientBool, LenientInt, LenientStr, WireModel

DbUseType = Literal["migration", "sync", "cloudDataGuard"]
JobDirection = Literal["up", "down", "non-dbs"]
TaskType = Literal["FULL_TRANS", "FULL_INCR_TRANS", "INCR_TRANS"]
NetType = Literal["vpn", "vpc", "eip"]
NodeType = Literal["micro", "small", "medium", "high", "xlarge", "2xlarge"]
# Name rule of 4.1.1: 4-50 chars, starts with a letter, letters/digits/_/-.
JobName = Annotated[str, StringConstraints(min_length=4, max_length=50, pattern=r"^[A-Za-z][A-Za-z0-9_-]*$")]
_FORBIDDEN_DESC = re.compile(r"[!<>'&\"\\]")


def check_description(value: str | None) -> str | None:
    if value is not None and _FORBIDDEN_DESC.search(value):
        raise ValueError("description may not contain !<>'&\"\\")
    return value


class ResourceTag(WireModel):
    key: str = Field(min_length=1, max_length=128)
    value: str = Field(default="", max_length=255)


class Endpoint(WireModel):
    """Source/target database of a task (003 Table 4-5; SDK ``Endpoint``)."""

    db_type: str = Field(min_length=1, max_length=32)
    az_code: str | None = Field(default=None, max_length=128)
    region: str | None = Field(default=None, max_length=128)
    inst_id: str | None = Field(default=None, max_length=128)
    vpc_id: str | None = Field(default=None, max_length=128)
    subnet_id: str | None = Field(default=None, max_length=128)
    security_group_id: str | None = Field(default=None, max_length=128)
    project_id: str | None = Field(default=None, max_length=128)
    db_name: str | None = Field(default=None, max_length=128)
    db_password: str | None = Field(default=None, max_length=1024)
    db_port: LenientInt | None = Field(default=None, ge=0, le=65535)
    db_user: str | None = Field(default=None, max_length=128)
    inst_name: str | None = Field(default=None, max_length=128)
    ip: str | None = Field(default=None, max_length=1024)
    mongo_ha_mode: str | None = Field(default=None, max_length=32)
    safe_mode: LenientInt | None = Field(default=None, ge=0, le=1)
    ssl_cert_password: str | None = Field(default=None, max_length=1024)
    ssl_cert_check_sum: str | None = Field(
        default=None, max_length=256, validation_alias=AliasChoices("ssl_cert_check_sum", "ssl_cert_checksum")
    )
    ssl_cert_key: str | None = Field(default=None, max_length=65536)
    ssl_cert_name: str | None = Field(default=None, max_length=256)
    ssl_link: LenientBool | None = None
    topic: str | None = Field(default=None, max_length=256)
    cluster_mode: str | None = Field(default=None, max_length=32)
    kafka_security_config: dict[str, Any] | None = None


class PublicIpConfig(WireModel):
    id: str = Field(max_length=64)
    public_ip: str = Field(max_length=64)
    type: Literal["master", "slave"]


class CreateJobReq(WireModel):
    """One task of 4.1.1 batch-creation."""

    name: JobName
    db_use_type: DbUseType
    engine_type: str = Field(min_length=1, max_length=64)
    job_direction: JobDirection
    task_type: TaskType = "FULL_INCR_TRANS"
    net_type: NetType
    node_type: NodeType = "high"
    node_num: LenientInt | None = Field(default=None, ge=1, le=32)
    bind_eip: LenientBool | None = None
    customize_sutnet_id: str | None = Field(
        default=None, max_length=128, validation_alias=AliasChoices("customize_sutnet_id", "customize_sut_net_id")
    )
    is_target_readonly: LenientBool | None = Field(
        default=None,
        validation_alias=AliasChoices("is_target_readonly", "is_target_read_only", "is_target_READONLY"),
    )
    source_endpoint: Endpoint
    target_endpoint: Endpoint
    tags: list[ResourceTag] | None = Field(default=None, max_length=20)
    sys_tags: list[ResourceTag] | None = Field(default=None, max_length=1)
    description: str | None = Field(default=None, max_length=256)
    multi_write: LenientBool | None = None
    expired_days: LenientStr | None = None
    public_ip_list: list[PublicIpConfig] | None = Field(default=None, max_length=2)
    is_open_fast_clean: LenientBool | None = None
    product_id: str | None = Field(default=None, max_length=128)
    master_az: str | None = Field(default=None, max_length=128)
    slave_az: str | None = Field(default=None, max_length=128)
    charging_mode: Literal["on_demand", "period"] | None = None

    _desc = field_validator("description")(check_description)

    @field_validator("expired_days")
    @classmethod
    def _expired(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if not value.isdigit() or not 14 <= int(value) <= 100:
            raise ValueError("expired_days must be 14-100")
        return value

    @model_validator(mode="after")
    def _rules(self) -> CreateJobReq:
        if self.db_use_type == "cloudDataGuard" and self.multi_write is None:
            raise ValueError("multi_write is mandatory for cloudDataGuard")
        return self


class BatchCreateJobReq(WireModel):
    jobs: list[CreateJobReq] = Field(min_length=1, max_length=10)


class TestEndPoint(WireModel):
    """One endpoint to test in 4.1.2 batch-connection."""

    id: JobId
    net_type: NetType | None = None
    db_type: str = Field(min_length=1, max_length=32)
    ip: str = Field(min_length=1, max_length=1024)
    db_port: LenientInt | None = Field(default=None, ge=0, le=65535)
    inst_id: str | None = Field(default=None, max_length=128)
    db_user: str | None = Field(default=None, max_length=128)
    db_password: str | None = Field(default=None, max_length=1024)
    ssl_link: LenientBool | None = None
    ssl_cert_key: str | None = Field(default=None, max_length=65536)
    ssl_cert_name: str | None = Field(default=None, max_length=256)
    ssl_cert_check_sum: str | None = Field(
        default=None, max_length=256, validation_alias=AliasChoices("ssl_cert_check_sum", "ssl_cert_checksum")
    )
    ssl_cert_password: str | None = Field(default=None, max_length=1024)
    vpc_id: str | None = Field(default=None, max_length=128)
    subnet_id: str | None = Field(default=None, max_length=128)
    end_point_type: Literal["so", "ta"]
    region: str | None = Field(default=None, max_length=128)
    project_id: str | None = Field(default=None, max_length=128)
    db_name: str | None = Field(default=None, max_length=128)
    kafka_security_config: dict[str, Any] | None = None
    customized_dns: dict[str, Any] | None = None


class BatchTestConnectionReq(WireModel):
    jobs: list[TestEndPoint] = Field(min_length=1, max_length=100)


class ClusterConnectionItem(WireModel):
    """4.1.3: ``property`` is a JSON *string* holding a list of endpoint objects."""

    action: str = Field(default="testConnection", max_length=64)
    job_id: JobId
    property: str = Field(min_length=2, max_length=1_000_000)


class BatchClusterConnectionReq(WireModel):
    jobs: list[ClusterConnectionItem] = Field(min_length=1, max_length=100)


class Subscription(WireModel):
    endpoints: list[str] = Field(default_factory=list, max_length=10)
    protocol: Literal["sms", "email"]


class AlarmNotify(WireModel):
    delay_time: LenientInt | None = Field(default=None, ge=0, le=3600)
    rto_delay: LenientInt | None = Field(default=None, ge=0, le=3600)
    rpo_delay: LenientInt | None = Field(default=None, ge=0, le=3600)
    alarm_to_user: LenientBool | None = None
    subscriptions: list[Subscription] | None = Field(default=None, max_length=2)


class ModifyJobReq(WireModel):
    """One task of 4.1.4 batch-modification."""

    job_id: JobId
    name: JobName | None = None
    description: str | None = Field(default=None, max_length=256)
    alarm_notify: AlarmNotify | None = None
    task_type: TaskType | None = None
    source_endpoint: Endpoint | None = None
    target_endpoint: Endpoint | None = None
    node_type: NodeType | None = None
    engine_type: str | None = Field(default=None, max_length=64)
    net_type: NetType | None = None
    store_db_info: LenientBool | None = None
    is_recreate: LenientBool | None = None
    job_direction: JobDirection | None = None
    is_target_readonly: LenientBool | None = Field(
        default=None,
        validation_alias=AliasChoices("is_target_readonly", "is_target_read_only", "is_target_READONLY"),
    )
    replace_definer: LenientBool | None = None
    tags: list[ResourceTag] | None = Field(default=None, max_length=20)
    db_use_type: DbUseType | None = None

    _desc = field_validator("description")(check_description)


class BatchModifyJobReq(WireModel):
    jobs: list[ModifyJobReq] = Field(min_length=1, max_length=100)


class DeleteJobReq(WireModel):
    delete_type: Literal["terminate", "force_terminate", "delete", "roll_back_upgrade_active_standby"]
    job_id: JobId
    is_show_breakpoint_position: LenientBool | None = Field(
        default=None,
        validation_alias=AliasChoices("is_show_breakpoint_position", "is_show_break_point_position"),
    )


class BatchDeleteJobReq(WireModel):
    jobs: list[DeleteJobReq] = Field(min_length=1, max_length=100)


class Kerberos(WireModel):
    krb5_conf_file: str | None = Field(default=None, max_length=65536)
    key_tab_file: str | None = Field(default=None, max_length=65536)
    domain_name: str | None = Field(default=None, max_length=256)
    user_principal: str | None = Field(default=None, max_length=256)


class ModifyPwdEndPoint(WireModel):
    db_password: str = Field(min_length=1, max_length=1024)
    end_point_type: Literal["so", "ta"]
    job_id: JobId
    kerberos: Kerberos | None = None


class BatchModifyPwdReq(WireModel):
    jobs: list[ModifyPwdEndPoint] = Field(min_length=1, max_length=100)


class QueryJobsReq(WireModel):
    """4.1.20 list: body pagination and filters."""

    cur_page: LenientInt = Field(ge=0, le=1_000_000)
    per_page: LenientInt = Field(ge=0, le=100)
    db_use_type: DbUseType
    engine_type: str | None = Field(default=None, max_length=64)
    enterprise_project_id: str | None = Field(default=None, max_length=64)
    name: str | None = Field(default=None, max_length=4000)
    net_type: NetType | Literal[""] | None = None
    service_name: str | None = Field(default=None, max_length=128)
    status: str | None = Field(default=None, max_length=48)
    tags: dict[str, str] | list[ResourceTag] | None = None
    instance_ids: list[str] | None = Field(default=None, max_length=100)
    instance_ip: str | None = Field(default=None, max_length=64)


class JobIdsBody(WireModel):
    jobs: JobIdList


class PageReq(WireModel):
    cur_page: LenientInt = Field(default=1, ge=1, le=1_000_000)
    per_page: LenientInt = Field(default=5, ge=0, le=100)


class BatchQueryJobReqPage(WireModel):
    """4.1.21 / 4.1.22: ``jobs`` plus optional ``page_req``."""

    jobs: Annotated[list[JobId], Field(min_length=1, max_length=100)]
    page_req: PageReq | None = None
