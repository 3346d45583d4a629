"""Wire models of the comparison family (003 §4.1.17, §4.1.18, §4.1.24–§4.1.37).

Field names follow the SDK request models (``CreateCompareTaskReq``, ``QueryCompareResultReq``,
``CreateDataLevelTableCompareJobReq``, ``ExportCompareResultReq`` ...). Field-level rules
(types, enums, lengths) are pydantic constraints; the cross-field rules the spec states in
prose raise the spec's error directly so the caller sees which parameter is wrong.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BeforeValidator, Field, StringConstraints, field_validator, model_validator

from opendrs.api.wire.base import JobId, LenientInt, LenientStr, WireModel
from opendrs.errors import EmptyParameter, InvalidParameter

# Comparison-task IDs are plain UUIDs in the examples; accept the same loose shape as task IDs.
CompareJobId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z_-]+$")]
DbName = Annotated[str, StringConstraints(min_length=1, max_length=256)]
TableName = Annotated[str, StringConstraints(min_length=1, max_length=256)]
# "start_time" is an epoch-milliseconds string (DIGEST §10c #85); empty means "start now".
EpochMs = Annotated[str, StringConstraints(max_length=13, pattern=r"^\d{0,13}$")]
EpochMsField = Annotated[EpochMs, BeforeValidator(lambda v: str(v) if isinstance(v, int) else v)]

DataCompareType = Literal["lines", "contents"]
TableCompareType = Literal["lines", "contents", "random"]
ExportCompareType = Literal["contents", "lines", "random", "objects_comparison"]
DownloadCompareType = Literal["contents", "lines", "random", "objects_comparison", "repair_data"]
# 4.1.35 path values; EXTENSIONS is allowed too because 4.1.18/4.1.34 report it (DIGEST §10b #37).
ObjectCompareType = Literal[
    "DB", "TABLE", "VIEW", "EVENT", "ROUTINE", "INDEX", "TRIGGER", "SYNONYM", "FUNCTION", "PROCEDURE",
    "TYPE", "RULE", "DEFAULT_TYPE", "PLAN_GUIDE", "CONSTRAINT", "FILE_GROUP", "PARTITION_FUNCTION",
    "PARTITION_SCHEME", "TABLE_COLLATION", "EXTENSIONS",
]
# 4.1.28/4.1.29 integer comparison status codes.
LINE_STATUS_CODES = frozenset({0, *range(2, 24), 27})
DetailType = Literal["compare", "unCompare"]
# 4.1.25 ``options``: documented keys and their values.
COMPARE_OPTIONS: dict[str, frozenset[str]] = {
    "contentCompareType": frozenset({"dynamic", "static"}),
    "lobCompare": frozenset({"ignore", "length"}),
    "comparePolicy": frozenset({"normal", "manyToOne"}),
}
_TIME_ZONE = re.compile(r"^GMT ?[+-]\d{2}:\d{2}$")


def _empty_to_none(value: Any) -> Any:
    """An empty object/string is "not given" (both SDK serialisation and the examples do this)."""
    return None if value in ({}, "") else value


class CompareObjectInfo(WireModel):
    """Tables of one database to compare; an empty ``table_name`` list means the whole database."""

    db_name: DbName
    table_name: list[TableName] | None = Field(default=None, max_length=10_000)


class CompareTableInfoWithToken(WireModel):
    table_name: TableName
    min_token: str | None = Field(default=None, max_length=64)
    max_token: str | None = Field(default=None, max_length=64)


class CompareObjectInfoWithToken(WireModel):
    """Cassandra DR only: tables with token ranges."""

    db_name: DbName
    table_name_with_token: list[CompareTableInfoWithToken] | None = Field(default=None, max_length=10_000)


def _require_objects(field: str, mode_given: bool, mode: str | None, *object_lists: list[Any] | None) -> None:
    """Without quick comparison the objects must be named (4.1.17 Table 4-114, 4.1.25 Table 4-192).

    An absent ``compare_mode`` means its documented default, ``quick_comparison``; an explicit
    null or empty string means "no quick comparison".
    """
    quick = mode == "quick_comparison" or not mode_given
    if not quick and not any(object_lists):
        raise EmptyParameter(field, detail="compare_mode is empty, so the objects to compare are mandatory")


class CreateDataLevelCompareReq(WireModel):
    """4.1.17 ``data_level_compare_info``."""

    conflict_policy: Literal["cancel", "keep"]
    compare_type: DataCompareType
    compare_mode: Literal["quick_comparison", ""] | None = "quick_comparison"
    start_time: EpochMsField | None = None
    compare_object_infos: list[CompareObjectInfo] | None = Field(default=None, max_length=1000)
    compare_object_infos_with_token: list[CompareObjectInfoWithToken] | None = Field(
        default=None, max_length=1000
    )

    @model_validator(mode="after")
    def _objects(self) -> CreateDataLevelCompareReq:
        _require_objects("compare_object_infos", "compare_mode" in self.model_fields_set, self.compare_mode,
                         self.compare_object_infos, self.compare_object_infos_with_token)
        return self


class CreateCompareTaskReq(WireModel):
    """4.1.17: object-level and/or data-level comparison; both empty = query the list only."""

    job_id: JobId
    object_level_compare_type: Annotated[Literal["objects"] | None, BeforeValidator(_empty_to_none)] = None
    data_level_compare_info: Annotated[
        CreateDataLevelCompareReq | None, BeforeValidator(_empty_to_none)
    ] = None

    @model_validator(mode="after")
    def _objects_and_contents(self) -> CreateCompareTaskReq:
        # "Object-level comparison and value comparison cannot be performed at the same time."
        info = self.data_level_compare_info
        if self.object_level_compare_type and info is not None and info.compare_type == "contents":
            raise InvalidParameter("compare_type", detail="objects and contents cannot be compared together")
        return self

    @property
    def query_only(self) -> bool:
        return self.object_level_compare_type is None and self.data_level_compare_info is None


class QueryCompareResultReq(WireModel):
    """4.1.18: ``current_page``/``per_page`` are mandatory (pagination style (c))."""

    job_id: JobId
    object_level_compare_id: Annotated[CompareJobId | None, BeforeValidator(_empty_to_none)] = None
    line_compare_id: Annotated[CompareJobId | None, BeforeValidator(_empty_to_none)] = None
    content_compare_id: Annotated[CompareJobId | None, BeforeValidator(_empty_to_none)] = None
    current_page: LenientInt = Field(ge=1, le=1_000_000)
    per_page: LenientInt = Field(ge=1, le=100)


class CreateDataCompareDatabaseObject(WireModel):
    """A table id such as ``db--table`` or ``db-*-*-table`` (DIGEST §10b #39: lenient)."""

    id: str = Field(min_length=1, max_length=1024)


class CreateDataCompareTransformationInfo(WireModel):
    transformation_type: Literal["contentConditionalFilter"] = Field(
        validation_alias=AliasChoices("transformation_type", "transformationType")
    )
    value: str = Field(min_length=1, max_length=256)


class AddDataTransformationReq(WireModel):
    object_info: list[CreateDataCompareDatabaseObject] = Field(min_length=1, max_length=10_000)
    transformation_info: CreateDataCompareTransformationInfo


class CreateDataLevelTableCompareJobReq(WireModel):
    """4.1.25 data-level table comparison (row, value or sampling)."""

    type: TableCompareType
    start_time: Annotated[EpochMsField | None, BeforeValidator(_empty_to_none)] = None
    compare_mode: Literal["quick_comparison", ""] | None = "quick_comparison"
    compare_object: list[CompareObjectInfo] | None = Field(default=None, max_length=1000)
    options: dict[str, LenientStr] | None = None
    compare_object_with_token: list[CompareObjectInfoWithToken] | None = Field(default=None, max_length=1000)
    compare_task_num: LenientInt | None = Field(default=None, ge=1, le=64)
    compare_transformation_infos: list[AddDataTransformationReq] | None = Field(default=None, max_length=1000)
    proportion_value: float | None = Field(default=None, gt=0, le=100)

    @field_validator("options")
    @classmethod
    def _options(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        for key, val in (value or {}).items():
            allowed = COMPARE_OPTIONS.get(key)
            if allowed is None:
                raise ValueError(f"unknown option {key}; documented: {sorted(COMPARE_OPTIONS)}")
            if val not in allowed:
                raise ValueError(f"option {key} must be one of {sorted(allowed)}")
        return value

    @model_validator(mode="after")
    def _rules(self) -> CreateDataLevelTableCompareJobReq:
        _require_objects("compare_object", "compare_mode" in self.model_fields_set, self.compare_mode,
                         self.compare_object,
                         self.compare_object_with_token, self.compare_transformation_infos)
        if self.proportion_value is not None and self.type != "random":
            raise InvalidParameter("proportion_value", detail="only sampling comparison takes a ratio")
        if self.type == "random" and self.proportion_value is None:
            raise EmptyParameter("proportion_value", detail="sampling comparison needs proportion_value")
        return self


class CreateObjectCompareJobReq(WireModel):
    """4.1.33 body: thread count, Cassandra DR only."""

    compare_task_num: LenientInt | None = Field(default=None, ge=1, le=64)


def _check_time_zone(value: str | None) -> str | None:
    if value and not _TIME_ZONE.match(value):
        raise ValueError('time_zone looks like "GMT +08:00"')
    return value or None


def _require_compare_job_id(compare_type: str | None, compare_job_id: str | None) -> None:
    """``compare_job_id`` is mandatory except for object-level comparison (4.1.36/4.1.37)."""
    if compare_type not in (None, "objects_comparison") and not compare_job_id:
        raise EmptyParameter("compare_job_id", detail=f"compare_type {compare_type} needs a compare_job_id")


class ExportCompareResultReq(WireModel):
    """4.1.36 body."""

    compare_type: ExportCompareType
    compare_job_id: Annotated[CompareJobId | None, BeforeValidator(_empty_to_none)] = None
    time_zone: str | None = Field(default=None, max_length=16)

    _tz = field_validator("time_zone")(_check_time_zone)

    @model_validator(mode="after")
    def _job_id(self) -> ExportCompareResultReq:
        _require_compare_job_id(self.compare_type, self.compare_job_id)
        return self


class DownloadCompareResultReq(WireModel):
    """4.1.37 body (the SDK sends it with the GET); every field may also come in the query."""

    compare_type: Annotated[DownloadCompareType | None, BeforeValidator(_empty_to_none)] = None
    compare_job_id: Annotated[CompareJobId | None, BeforeValidator(_empty_to_none)] = None
    time_zone: str | None = Field(default=None, max_length=16)

    _tz = field_validator("time_zone")(_check_time_zone)


def resolve_download(query_type: str | None, query_job_id: str | None,
                     body: DownloadCompareResultReq | None) -> tuple[str, str | None]:
    """4.1.37: the query wins, the body fills the gaps; ``compare_type`` must come from one of them."""
    compare_type = query_type or (body.compare_type if body else None)
    compare_job_id = query_job_id or (body.compare_job_id if body else None)
    if not compare_type:
        raise EmptyParameter("compare_type", detail="neither the query nor the body names compare_type")
    _require_compare_job_id(compare_type, compare_job_id)
    return compare_type, compare_job_id


class RepairReq(WireModel):
    """Body of the repair extra (not in the spec): ``dry_run`` (default true) only returns the SQL."""

    dry_run: bool = True
