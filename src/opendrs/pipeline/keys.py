"""Typed JSON for key values, so a checkpointed key feeds back into SQL as the same value.

Plain ``json`` would turn Decimal, bytes and datetimes into strings and a resumed range
query would compare the wrong thing.
"""

from __future__ import annotations

import base64
import datetime as dt
from decimal import Decimal
from typing import Any

from opendrs.pipeline.model import Row


def encode_value(v: Any) -> list[Any]:
    if v is None:
        return ["n", None]
    if isinstance(v, bool):
        return ["b", v]
    if isinstance(v, int):
        return ["i", str(v)]
    if isinstance(v, float):
        return ["f", repr(v)]
    if isinstance(v, Decimal):
        return ["d", str(v)]
    if isinstance(v, str):
        return ["s", v]
    if isinstance(v, bytes | bytearray):
        return ["x", base64.b64encode(bytes(v)).decode()]
    if isinstance(v, dt.datetime):
        return ["dt", v.isoformat()]
    if isinstance(v, dt.date):
        return ["da", v.isoformat()]
    if isinstance(v, dt.timedelta):
        return ["td", [v.days, v.seconds, v.microseconds]]
    raise TypeError(f"cannot checkpoint a key value of type {type(v).__name__}")


def decode_value(item: list[Any]) -> Any:
    kind, v = item
    match kind:
        case "n":
            return None
        case "b":
            return bool(v)
        case "i":
            return int(v)
        case "f":
            return float(v)
        case "d":
            return Decimal(v)
        case "s":
            return str(v)
        case "x":
            return base64.b64decode(v)
        case "dt":
            return dt.datetime.fromisoformat(v)
        case "da":
            return dt.date.fromisoformat(v)
        case "td":
            return dt.timedelta(days=v[0], seconds=v[1], microseconds=v[2])
    raise ValueError(f"unknown key value kind {kind!r}")


def encode_key(key: Row | None) -> list[list[Any]] | None:
    return None if key is None else [encode_value(v) for v in key]


def decode_key(doc: list[list[Any]] | None) -> Row | None:
    return None if doc is None else tuple(decode_value(item) for item in doc)
