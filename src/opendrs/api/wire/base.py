"""Shared wire-model base classes and field types."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from opendrs.errors import DrsError


class WireModel(BaseModel):
    """Lenient about unknown fields (clients send SDK extras), strict about known ones."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)


# Job IDs: the spec says "UUID rule" but its examples are not hex UUIDs (DIGEST §10c #65).
JobId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z_-]+$")]
JobIdList = Annotated[list[JobId], Field(min_length=1, max_length=100)]


def _str_bool(value: Any) -> Any:
    """Accept "true"/"false" strings where the spec documents a Boolean (clients send both)."""
    if isinstance(value, str) and value.lower() in {"true", "false"}:
        return value.lower() == "true"
    return value


LenientBool = Annotated[bool, BeforeValidator(_str_bool)]


def _int_from_str(value: Any) -> Any:
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return value


LenientInt = Annotated[int, BeforeValidator(_int_from_str)]


def _str_from_scalar(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return str(value)
    return value


LenientStr = Annotated[str, BeforeValidator(_str_from_scalar)]


class JobIdsRequest(WireModel):
    """Body ``{"jobs": ["id", ...]}`` used by many batch query APIs."""

    jobs: JobIdList


def item_error(job_id: str | None, exc: DrsError, id_field: str = "id") -> dict[str, Any]:
    """A failed item inside a batch result, as the spec shows it."""
    out: dict[str, Any] = {"status": "failed", "error_code": exc.error_code, "error_msg": exc.error_msg}
    if job_id is not None:
        out[id_field] = job_id
    return out


def item_ok(job_id: str, id_field: str = "id", **extra: Any) -> dict[str, Any]:
    return {id_field: job_id, "status": "success", **extra}
