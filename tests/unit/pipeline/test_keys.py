"""Checkpointed keys come back as the same typed values."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest

from opendrs.pipeline.keys import decode_key, encode_key


@pytest.mark.parametrize("key", [
    (1,), (-(2**63), 2**64 - 1), ("é😀", "b"), (Decimal("12345678901234567890.000000000001"),),
    (b"\x00\xff\x10",), (dt.datetime(2024, 1, 2, 3, 4, 5, 678901),),  # noqa: DTZ001 - MySQL DATETIME is naive, (dt.date(1000, 1, 1),),
    (dt.timedelta(hours=-838, seconds=-59),), (1.5, None, True),
])
def test_round_trip_through_json(key: tuple[object, ...]) -> None:
    back = decode_key(json.loads(json.dumps(encode_key(key))))
    assert back == key
    assert [type(v) for v in back or ()] == [type(v) for v in key]


def test_none_and_unknown() -> None:
    assert encode_key(None) is None and decode_key(None) is None
    with pytest.raises(TypeError):
        encode_key((object(),))
    with pytest.raises(ValueError, match="unknown"):
        decode_key([["zz", 1]])
