"""Wire models of the configuration APIs: objects, flow control, definer, data processing, sync
policy, database parameters and users (4.1.5, 4.1.8, 4.1.9, 4.1.10, 4.1.16, 4.2.1, 4.3.1, 4.3.2).

Field names follow the SDK (``indexs``, ``list``); documented variants are accepted too
(DIGEST §10a #5). Types, enums and lengths are checked here; rules that need explanation
(time windows, GTIDs, SQL filters) live in ``opendrs.jobs`` where the message says what to fix.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BeforeValidator, Field, model_validator

from opendrs.api.wire.base import JobId, JobIdList, LenientBool, LenientStr, WireModel


def _bool_to_str(value: Any) -> Any:
    """``select`` is a String ("true"/"false"/"partial"); clients also send JSON booleans."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def _scalar_to_str(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


SelectValue = Annotated[Literal["true", "false", "partial"], BeforeValidator(_bool_to_str)]
Name = Annotated[str, Field(min_length=1, max_length=256)]
Text256 = Annotated[str, Field(max_length=256)]


# --- 4.1.5 batch-select-objects ---------------------------------------------------------------


class DatabaseInfo(WireModel):
    """One node of the object tree (SDK ``DatabaseInfo``)."""

    id: str | None = Field(default=None, min_length=1, max_length=1024)
    parent_id: str | None = Field(default=None, max_length=1024)
    object_type: Literal["database", "table", "schema", "view"] | None = None
    object_name: str | None = Field(default=None, max_length=256)
    object_alias_name: str | None = Field(default=None, max_length=256)
    select: SelectValue = "false"

    @model_validator(mode="after")
    def _derive(self) -> DatabaseInfo:
        # Lenient: the spec marks every field optional; derive the id/type the examples imply.
        if self.object_type is None:
            self.object_type = "table" if self.parent_id else "database"
        if self.id is None:
            if not self.object_name:
                raise ValueError("id or object_name is required")
            self.id = self.object_name if self.object_type == "database" else (
                f"{self.parent_id}-*-*-{self.object_name}")
        return self


class UpdateDatabaseObjectReq(WireModel):
    job_id: JobId
    selected: LenientBool = False
    sync_database: LenientBool | None = None
    job: list[DatabaseInfo] | None = Field(default=None, max_length=20_000)


class BatchUpdateDatabaseObjectReq(WireModel):
    jobs: list[UpdateDatabaseObjectReq] = Field(min_length=1, max_length=100)


# --- 4.1.8 batch-limit-speed ------------------------------------------------------------------


class SpeedLimitInfo(WireModel):
    """Times are checked in ``opendrs.jobs.speed`` (hh:mm, :59 ends, overlaps)."""

    begin: str = Field(max_length=16)
    end: str = Field(max_length=16)
    speed: LenientStr = Field(max_length=16)
    is_utc: LenientBool | None = None


class LimitSpeedReq(WireModel):
    job_id: JobId
    speed_limit: list[SpeedLimitInfo] = Field(max_length=100)


class BatchLimitSpeedReq(WireModel):
    speed_limits: list[LimitSpeedReq] = Field(min_length=1, max_length=100)


# --- 4.1.16 batch-replace-definer -------------------------------------------------------------


class ReplaceDefinerInfo(WireModel):
    job_id: JobId
    replace_definer: LenientBool


class BatchReplaceDefinerReq(WireModel):
    jobs: list[ReplaceDefinerInfo] = Field(min_length=1, max_length=100)


# --- 4.3.1 batch-transformation ---------------------------------------------------------------


class DatabaseObjectVO(WireModel):
    id: str = Field(min_length=1, max_length=1024)
    select: Annotated[str, BeforeValidator(_bool_to_str)] = Field(default="true", max_length=8)


class TransformationInfo(WireModel):
    transformation_type: Literal["contentConditionalFilter", "configConditionalFilter"]
    value: str = Field(min_length=1, max_length=256)


class ConfigTransformationVo(WireModel):
    db_table_name: Name
    db_name: Name
    table_name: Name
    col_names: Name
    prim_key_or_index: Name
    indexs: Name = Field(validation_alias=AliasChoices("indexs", "indexes"))
    values: Name


class CheckDataTransformationReq(WireModel):
    job_id: JobId
    object_info: list[DatabaseObjectVO] | None = Field(default=None, max_length=10_000)
    transformation_info: TransformationInfo
    config_transformation: ConfigTransformationVo | None = None


class BatchDataTransformationReq(WireModel):
    jobs: list[CheckDataTransformationReq] = Field(min_length=1, max_length=100)


# --- 4.3.2 batch-sync-policy ------------------------------------------------------------------

DigitStr = Annotated[str, BeforeValidator(_scalar_to_str), Field(max_length=10)]
PartitionPolicy = Annotated[Literal["0", "1", "2", "3", "4", "5"], BeforeValidator(_scalar_to_str)]


class SyncPolicyReq(WireModel):
    """SDK ``SyncPolicyReq`` (incl. its Kafka fields); which fields fit which engine: jobs.configure."""

    job_id: JobId
    conflict_policy: Literal["ignore", "overwrite", "stop"] | None = None
    filter_ddl_policy: Literal["drop_database", "drop_databasefilter_all", ""] | None = None
    ddl_trans: LenientBool | None = None
    index_trans: LenientBool | None = None
    topic_policy: Annotated[Literal["0", "1", "2", "3", "4"], BeforeValidator(_scalar_to_str)] | None = None
    topic: Text256 | None = None
    partition_policy: PartitionPolicy | None = None
    kafka_data_format: Literal["json", "avro", "json_c"] | None = None
    topic_name_format: Text256 | None = None
    partitions_num: DigitStr | None = None
    replication_factor: DigitStr | None = None
    is_fill_materialized_view: LenientBool | None = None
    export_snapshot: LenientBool | None = None
    slot_name: str | None = Field(default=None, max_length=128)
    file_and_position: str | None = Field(default=None, max_length=100)
    gtid_set: str | None = Field(default=None, max_length=2048)
    ddl_topic: Text256 | None = None


class BatchSetupSyncPolicyReq(WireModel):
    jobs: list[SyncPolicyReq] = Field(min_length=1, max_length=100)


# --- 4.1.9 / 4.1.10 database parameters -------------------------------------------------------


class BatchQueryParamReq(WireModel):
    jobs: JobIdList
    # String in the table, integer 1 in the example (DIGEST §10b #28).
    refresh: Annotated[Literal["0", "1"], BeforeValidator(_scalar_to_str)]


class ParamsReqBean(WireModel):
    key: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.]+$")
    target_value: LenientStr = Field(max_length=1024)


class ModifyTargetParamsReq(WireModel):
    group: Literal["common", "performance"]
    params: list[ParamsReqBean] = Field(min_length=1, max_length=500)


# --- 4.2.1 batch-update-user ------------------------------------------------------------------


class UserAccountVO(WireModel):
    id: str = Field(min_length=1, max_length=256)
    account: str = Field(min_length=1, max_length=256)
    comment: str | None = Field(default=None, max_length=1024)
    is_transfer: LenientBool
    privileges: list[Annotated[str, Field(max_length=65_536)]] | None = Field(default=None, max_length=1000)
    password: str | None = Field(default=None, max_length=1024)
    is_set_password: LenientBool | None = None
    roles: list[Annotated[str, Field(max_length=256)]] = Field(max_length=1000)
    selected: LenientBool


class UserRoleVO(WireModel):
    role: str = Field(min_length=1, max_length=256)
    comment: str | None = Field(default=None, max_length=1024)
    is_transfer: LenientBool
    privileges: str = Field(max_length=65_536)
    inherits_roles: list[Annotated[str, Field(max_length=256)]] | None = Field(default=None, max_length=1000)
    selected: LenientBool | None = None


class UpdateUserReq(WireModel):
    job_id: JobId
    password: str | None = Field(default=None, max_length=1024)
    # The wire name is ``list``; a field called ``list`` would shadow the builtin in annotations.
    users: list[UserAccountVO] | None = Field(default=None, alias="list", max_length=10_000)
    user_roles: list[UserRoleVO] | None = Field(default=None, max_length=10_000)
    is_set_password: LenientBool
    is_migrate_user: LenientBool
    is_sync_object_privilege: LenientBool | None = None


class BatchUpdateSrcUserReq(WireModel):
    jobs: list[UpdateUserReq] = Field(min_length=1, max_length=100)
