"""Pure decoding logic of the fast binlog reader and the shared value converters.

Why: the integration tests compare whole streams; these pin the byte formats themselves
(binary DECIMAL, temporal packing, length-encoded integers, table maps, bitmaps, MariaDB's
compression header) on hand-built bytes, so a regression names the exact format that broke.
"""

from __future__ import annotations

import datetime
import struct
import zlib
from decimal import Decimal

import pytest

from opendrs.engines.mysql.binlog_reader import (
    bit_set,
    decimal_decoder,
    decimal_size,
    mariadb_uncompress,
    packed_int,
    parse_table_map,
)
from opendrs.engines.mysql.capture import full_image
from opendrs.engines.mysql.position import BinlogError
from opendrs.engines.mysql.values import _datetime2, _time2, _timestamp2


def encode_decimal(text: str, precision: int, scale: int) -> bytes:
    """MySQL's binary DECIMAL, written independently of the decoder (from the format description)."""
    dig2bytes = (0, 1, 1, 2, 2, 3, 3, 4, 4, 4)
    negative = text.startswith("-")
    whole, _, frac = text.lstrip("-").partition(".")
    intg = precision - scale
    whole = whole.rjust(intg, "0")
    frac = frac.ljust(scale, "0")
    out = bytearray()
    lead = intg % 9
    if lead:
        out += int(whole[:lead]).to_bytes(dig2bytes[lead], "big")
    for i in range(lead, intg, 9):
        out += int(whole[i : i + 9]).to_bytes(4, "big")
    for i in range(0, scale - scale % 9, 9):
        out += int(frac[i : i + 9]).to_bytes(4, "big")
    if scale % 9:
        out += int(frac[scale - scale % 9 :]).to_bytes(dig2bytes[scale % 9], "big")
    out[0] ^= 0x80
    if negative:
        out = bytearray(b ^ 0xFF for b in out)
    return bytes(out)


@pytest.mark.parametrize(("text", "precision", "scale", "want"), [
    ("1234567890.1234", 14, 4, "1234567890.1234"),
    ("-1234567890.1234", 14, 4, "-1234567890.1234"),
    ("0.00", 5, 2, "0.00"),
    ("-0.01", 5, 2, "-0.01"),
    ("999.99", 5, 2, "999.99"),
    ("99999999999999999999999999999999999.999999999999999999999999999999", 65, 30,
     "99999999999999999999999999999999999.999999999999999999999999999999"),
    ("-0.000000000000000000000000000001", 65, 30, "-1E-30"),
    ("0.5", 9, 9, "0.500000000"),
    ("-9", 1, 0, "-9"),
    ("18446744073709551615", 20, 0, "18446744073709551615"),
    ("-123456789.123456789", 18, 9, "-123456789.123456789"),
])
def test_binary_decimal(text: str, precision: int, scale: int, want: str) -> None:
    raw = encode_decimal(text, precision, scale)
    assert len(raw) == decimal_size(precision, scale)
    got = decimal_decoder(precision, scale)(b"xx" + raw + b"yy", 2)
    assert got == Decimal(want) and str(got.as_tuple().exponent) == str(-scale)


def test_decimal_sizes() -> None:
    assert [decimal_size(p, s) for p, s in [(5, 2), (10, 0), (65, 30), (9, 9), (18, 9), (1, 0)]] == \
        [3, 5, 30, 4, 8, 1]


def test_packed_int() -> None:
    assert packed_int(b"\x05", 0) == (5, 1)
    assert packed_int(b"\x00\xfc\x34\x12", 1) == (0x1234, 4)
    assert packed_int(b"\xfd\x01\x02\x03", 0) == (0x030201, 4)
    assert packed_int(b"\xfe" + (2**40).to_bytes(8, "little"), 0) == (2**40, 9)
    with pytest.raises(BinlogError, match="length-encoded"):
        packed_int(b"\xff", 0)


def test_bitmaps() -> None:
    assert full_image(3) == b"\x07" and full_image(8) == b"\xff" and full_image(10) == b"\xff\x03"
    assert [bit_set(b"\x05\x80", i) for i in (0, 1, 2, 15, 14)] == [True, False, True, True, False]


def little(big_endian: bytes) -> int:
    """What the readers feed ``values.py``: the little-endian integer of the column's bytes."""
    return int.from_bytes(big_endian, "little")


def test_temporal_packing() -> None:
    # DATETIME(6) 2024-02-29 12:34:56.789012: 5 bytes of packed date/time, 3 bytes of fraction
    ym = 2024 * 13 + 2
    packed = (1 << 39) | (ym << 22) | (29 << 17) | (12 << 12) | (34 << 6) | 56
    raw = packed.to_bytes(5, "big") + (789012).to_bytes(3, "big")
    assert _datetime2(6)(little(raw)) == datetime.datetime(2024, 2, 29, 12, 34, 56, 789012)  # noqa: DTZ001
    zero = (1 << 39).to_bytes(5, "big") + b"\0\0\0"
    assert _datetime2(6)(little(zero)) == "0000-00-00 00:00:00.000000"
    # TIMESTAMP(3): seconds big-endian, then 2 bytes of milliseconds*10
    ts = (86400).to_bytes(4, "big") + (1230).to_bytes(2, "big")
    assert _timestamp2(3)(little(ts)) == datetime.datetime(1970, 1, 2, 0, 0, 0, 123000)  # noqa: DTZ001
    # TIME(0) -00:00:01 and TIME(6) 838:59:59
    assert _time2(0)(little((0x800000 - 1).to_bytes(3, "big"))) == -datetime.timedelta(seconds=1)
    hms = (838 << 12) | (59 << 6) | 59
    assert _time2(6)(little(((0x800000 + hms) << 24).to_bytes(6, "big"))) == datetime.timedelta(hours=838,
                                                                                                 minutes=59,
                                                                                                 seconds=59)


def lenenc(n: int) -> bytes:
    return bytes([n]) if n < 251 else b"\xfc" + n.to_bytes(2, "little")


def test_table_map() -> None:
    types = bytes([3, 15, 254, 254, 246, 18, 252, 16])  # INT, VARCHAR, CHAR(255) utf8mb4, ENUM, DECIMAL, DATETIME2...
    meta = (struct.pack("<H", 400)  # VARCHAR(100) utf8mb4: 400 bytes
            + bytes([0xCE, 0xFC])  # CHAR(255) utf8mb4 = 1020 bytes: 0x300 hides, inverted, in the type byte
            + bytes([247, 2])  # ENUM, 2-byte index
            + bytes([10, 2])  # DECIMAL(10,2)
            + bytes([3])  # DATETIME(3)
            + bytes([2])  # BLOB with 2-byte lengths
            + bytes([3, 1]))  # BIT(11)
    names = b"".join(lenenc(len(n)) + n for n in [b"id", b"v", b"c", b"e", b"d", b"t", b"b", b"bits"])
    body = ((42).to_bytes(6, "little") + b"\x01\x00" + b"\x02db\x00" + b"\x03tbl\x00" + lenenc(len(types)) + types
            + lenenc(len(meta)) + meta + b"\xff" + b"\x01\x01\x00" + b"\x04" + lenenc(len(names)) + names)
    table_id, tmap = parse_table_map(body)
    assert (table_id, tmap.schema, tmap.name) == (42, "db", "tbl")
    assert [c.name for c in tmap.columns] == ["id", "v", "c", "e", "d", "t", "b", "bits"]
    assert [c.type for c in tmap.columns] == [3, 15, 254, 247, 246, 18, 252, 16]
    assert tmap.columns[1].meta == {"max_length": 400}
    assert tmap.columns[2].meta == {"max_length": 1020}
    assert tmap.columns[3].meta == {"size": 2}
    assert tmap.columns[4].meta == {"precision": 10, "decimals": 2}
    assert tmap.columns[5].meta == {"fsp": 3}
    assert tmap.columns[6].meta == {"length_size": 2}
    assert tmap.columns[7].meta == {"bits": 11, "bytes": 2}


def test_mariadb_compression_header() -> None:
    payload = b"row images " * 50
    packed = bytes([0x82]) + len(payload).to_bytes(2, "big") + zlib.compress(payload)
    assert mariadb_uncompress(b"hdr" + packed + b"crc!", 3, 3 + len(packed)) == payload
    with pytest.raises(BinlogError, match="malformed compressed"):
        mariadb_uncompress(b"\x02" + packed[1:], 0, len(packed))
