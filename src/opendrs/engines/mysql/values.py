"""Turn what python-mysql-replication decodes from a ROW binlog into what a plain SELECT returns.

Why: full load reads rows with ``SELECT`` and CDC reads them from the binlog, and the target
must receive the very same Python values from both, or a row copied by the full load and the
same row re-applied by CDC would differ (a FLOAT 0.1 as 0.10000000149011612, a latin1 'é' as
mojibake, an empty SET as NULL...). The library is also wrong or lossy on its own for several
types when the binlog carries no column metadata (``binlog_row_metadata`` is ``NO_LOG`` by
default on MariaDB): ENUM/SET come back as None, unsigned integers as negative numbers, every
string is decoded as UTF-8, zero dates become None and negative TIME(n) values lose their
fraction.

So each binlog column gets a ``ColumnDecoder`` built from the catalog's ``Column`` (the truth
about type, signedness, charset and labels): a ``patch`` of attributes set on the library's
column description before rows are decoded -- temporal, ENUM, SET and BIT columns are made to
come back as the raw little-endian integer of their bytes (as if they were ENUMs whose label
list is the identity), strings in a non-UTF-8 charset as ``latin-1`` text (a lossless byte to
str mapping) -- and a ``convert`` function that produces the SELECT value from that. Values
are PyMySQL's for a ``utf8mb4`` connection with session ``time_zone = '+00:00'`` and default
converters (zero or invalid dates stay ``str``).
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final

from pymysqlreplication.constants import FIELD_TYPE  # type: ignore[import-untyped,unused-ignore]

from opendrs.pipeline.model import Column

Converter = Callable[[Any], Any]


class RawIndex:
    """Stands in for an ENUM's label list so the library returns the stored integer itself."""

    def __getitem__(self, index: int) -> int:
        return index

    def __bool__(self) -> bool:
        return True


RAW: Final = RawIndex()


@dataclass(frozen=True)
class ColumnDecoder:
    """How to decode one binlog column: ``patch`` the library's column, then ``convert`` values.

    ``convert`` is None when the library's value already equals the SELECT value (the hot
    path: ints, UTF-8 strings, DECIMAL...). It is never called with None (SQL NULL).
    """

    patch: Mapping[str, Any] = field(default_factory=dict)
    convert: Converter | None = None


# --- which binlog column types a catalog data type may arrive as ------------------------------

_INTS: Final = {"tinyint": FIELD_TYPE.TINY, "smallint": FIELD_TYPE.SHORT, "mediumint": FIELD_TYPE.INT24,
                "int": FIELD_TYPE.LONG, "integer": FIELD_TYPE.LONG, "bigint": FIELD_TYPE.LONGLONG}
_TEXT: Final = frozenset({"char", "varchar", "tinytext", "text", "mediumtext", "longtext", "json"})
_BINARY: Final = frozenset({"binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob"})
_GEOMETRY: Final = frozenset({"geometry", "point", "linestring", "polygon", "multipoint", "multilinestring",
                              "multipolygon", "geometrycollection", "geomcollection"})
_STRING_TYPES: Final = frozenset({FIELD_TYPE.STRING, FIELD_TYPE.VARCHAR, FIELD_TYPE.VAR_STRING, FIELD_TYPE.BLOB,
                                  FIELD_TYPE.TINY_BLOB, FIELD_TYPE.MEDIUM_BLOB, FIELD_TYPE.LONG_BLOB})
_EXPECTED: Final[Mapping[str, frozenset[int]]] = {
    **{name: frozenset({code}) for name, code in _INTS.items()},
    "float": frozenset({FIELD_TYPE.FLOAT}),
    "double": frozenset({FIELD_TYPE.DOUBLE}),
    "real": frozenset({FIELD_TYPE.DOUBLE}),
    "double precision": frozenset({FIELD_TYPE.DOUBLE}),
    "decimal": frozenset({FIELD_TYPE.NEWDECIMAL}),
    "numeric": frozenset({FIELD_TYPE.NEWDECIMAL}),
    "date": frozenset({FIELD_TYPE.DATE, FIELD_TYPE.NEWDATE}),
    "datetime": frozenset({FIELD_TYPE.DATETIME, FIELD_TYPE.DATETIME2}),
    "timestamp": frozenset({FIELD_TYPE.TIMESTAMP, FIELD_TYPE.TIMESTAMP2}),
    "time": frozenset({FIELD_TYPE.TIME, FIELD_TYPE.TIME2}),
    "year": frozenset({FIELD_TYPE.YEAR}),
    "enum": frozenset({FIELD_TYPE.ENUM}),
    "set": frozenset({FIELD_TYPE.SET}),
    "bit": frozenset({FIELD_TYPE.BIT}),
    **{name: _STRING_TYPES for name in (_TEXT | _BINARY) - {"json"}},
    "json": _STRING_TYPES | {FIELD_TYPE.JSON},  # MariaDB: LONGTEXT; MySQL: binary JSON
    **{name: frozenset({FIELD_TYPE.GEOMETRY}) for name in _GEOMETRY},
}


def binlog_type_matches(col: Column, binlog_type: int) -> bool:
    """True when a binlog column of ``binlog_type`` can be ``col`` (catches structure drift)."""
    expected = _EXPECTED.get(col.data_type)
    return expected is not None and binlog_type in expected


# --- character sets ---------------------------------------------------------------------------

_UTF8: Final = frozenset({"utf8mb4", "utf8mb3", "utf8"})
# MySQL/MariaDB charset -> Python codec, for the charsets whose server conversion to utf8mb4
# matches Python's codec. latin1 is special-cased (MySQL's latin1 is cp1252 plus 5 bytes that
# map to the C1 control characters of the same number, which Python's cp1252 rejects).
_CODECS: Final[Mapping[str, str]] = {
    "ascii": "ascii", "latin2": "iso8859_2", "latin5": "iso8859_9", "latin7": "iso8859_13",
    "greek": "iso8859_7", "hebrew": "iso8859_8", "cp1250": "cp1250", "cp1251": "cp1251",
    "cp1256": "cp1256", "cp1257": "cp1257", "cp850": "cp850", "cp852": "cp852", "cp866": "cp866",
    "koi8r": "koi8_r", "koi8u": "koi8_u", "macroman": "mac_roman", "macce": "mac_latin2",
    "gbk": "gbk", "gb2312": "gb2312", "gb18030": "gb18030", "big5": "big5", "sjis": "shift_jis",
    "cp932": "cp932", "ujis": "euc_jp", "eucjpms": "euc_jp", "euckr": "euc_kr", "tis620": "tis_620",
    "utf16": "utf_16_be", "utf16le": "utf_16_le", "utf32": "utf_32_be", "ucs2": "utf_16_be",
}
_LATIN1_C1: Final = {b: b for b in (0x81, 0x8D, 0x8F, 0x90, 0x9D)}
_LATIN1_FIX: Final = {
    b: (_LATIN1_C1.get(b) or ord(bytes([b]).decode("cp1252"))) for b in range(0x80, 0xA0)
}
# The library decodes a column with the Python codec of the charset named here; "latin-1" is
# no MySQL charset name, so it is used verbatim: every byte becomes the code point of its value.
_AS_UTF8: Final = {"character_set_name": "utf8mb4"}
_AS_BYTES: Final = {"character_set_name": "latin-1"}


def _latin1(text: str) -> str:
    return text.translate(_LATIN1_FIX)


def _recode(codec: str) -> Converter:
    def recode(text: str) -> str:
        return text.encode("latin-1").decode(codec)

    return recode


def _to_bytes(text: str) -> bytes:
    return text.encode("latin-1")


def _padded_bytes(length: int) -> Converter:
    def pad(text: str) -> bytes:  # BINARY(n): the binlog drops trailing zero bytes, SELECT keeps them
        return text.encode("latin-1").ljust(length, b"\0")

    return pad


def _string(col: Column) -> ColumnDecoder:
    if col.data_type in _GEOMETRY:
        return ColumnDecoder()
    if col.data_type in _BINARY or (col.charset or "").lower() == "binary":
        if col.data_type == "binary":
            return ColumnDecoder(_AS_BYTES, _padded_bytes(_declared_length(col)))
        return ColumnDecoder(_AS_BYTES, _to_bytes)
    charset = (col.charset or "utf8mb4").lower()
    if charset in _UTF8:
        return ColumnDecoder(_AS_UTF8)
    if charset == "latin1":
        return ColumnDecoder(_AS_BYTES, _latin1)
    codec = _CODECS.get(charset)
    if codec is None:
        raise ValueError(f"column {col.name!r} uses character set {charset!r}, which binlog capture cannot decode")
    return ColumnDecoder(_AS_BYTES, _recode(codec))


def _declared_length(col: Column) -> int:
    match = re.search(r"\((\d+)\)", col.column_type)
    if match is None:
        raise ValueError(f"column {col.name!r}: no length in {col.column_type!r}")
    return int(match.group(1))


# --- numbers ----------------------------------------------------------------------------------


def _float(value: float) -> float:
    """A FLOAT as the exact double it widens to -- what the full load reads (``col + 0E0``,
    see ``dialect.read_expr``) -- so both phases write back the same single-precision bits.
    The server's 6-digit text form would not survive a write back. ``+ 0.0`` turns -0 into 0
    as the server's ``col + 0E0`` does."""
    return value + 0.0


def _double(value: float) -> float:
    return value or 0.0


def _decimal(value: Decimal) -> Decimal:
    return value.copy_abs() if value.is_zero() and value.is_signed() else value


def _year(value: int) -> int:
    return 0 if value == 1900 else value  # YEAR 0000 is stored as 0, which the library adds 1900 to


def _number(col: Column, binlog_type: int) -> ColumnDecoder:
    if binlog_type in (FIELD_TYPE.FLOAT, FIELD_TYPE.DOUBLE):
        scale = re.search(r"\(\s*\d+\s*,\s*(\d+)\s*\)", col.column_type)
        if scale is not None and binlog_type == FIELD_TYPE.DOUBLE:
            return ColumnDecoder(convert=_double)  # exact, as dialect.read_expr reads DOUBLE(M,D)
        return ColumnDecoder(convert=_float if binlog_type == FIELD_TYPE.FLOAT else _double)
    if binlog_type == FIELD_TYPE.NEWDECIMAL:
        return ColumnDecoder(convert=_decimal)
    if binlog_type == FIELD_TYPE.YEAR:
        return ColumnDecoder(convert=_year)
    return ColumnDecoder({"unsigned": "unsigned" in col.column_type.lower()})


# --- temporal types: decoded from their raw bytes ---------------------------------------------

_EPOCH: Final = datetime.datetime(1970, 1, 1)  # noqa: DTZ001 - TIMESTAMP is read as naive UTC


_FRAC_UNIT: Final = (0, 10_000, 100, 1)  # microseconds per unit of a 0/1/2/3-byte fraction field


def _frac_bytes(fsp: int) -> int:
    return (fsp + 1) // 2


def _big_endian(size: int) -> Callable[[int], int]:
    def flip(value: int) -> int:  # the library read these bytes as a little-endian integer
        return int.from_bytes(value.to_bytes(size, "little"), "big")

    return flip


def _micros(frac: int, fsp: int) -> int:
    """Microseconds from the big-endian fraction field of a DATETIME2/TIMESTAMP2/TIME2."""
    return frac * _FRAC_UNIT[_frac_bytes(fsp)]


def _frac_text(micros: int, fsp: int) -> str:
    return f".{micros:06d}"[: fsp + 1] if fsp else ""


def _datetime_value(year: int, month: int, day: int, hms: tuple[int, int, int], micros: int,
                    fsp: int) -> datetime.datetime | str:
    try:
        if year == 0:
            raise ValueError("year 0")
        return datetime.datetime(year, month, day, *hms, micros)  # noqa: DTZ001 - MySQL DATETIME is naive
    except ValueError:  # zero or invalid date (permissive sql_mode): PyMySQL returns the text
        h, m, s = hms
        return f"{year:04d}-{month:02d}-{day:02d} {h:02d}:{m:02d}:{s:02d}{_frac_text(micros, fsp)}"


def _date_decoder(value: int) -> datetime.date | str:
    day, month, year = value & 31, (value >> 5) & 15, value >> 9
    try:
        if year == 0:
            raise ValueError("year 0")
        return datetime.date(year, month, day)
    except ValueError:
        return f"{year:04d}-{month:02d}-{day:02d}"


def _datetime2(fsp: int) -> Converter:
    fb = _frac_bytes(fsp)
    flip = _big_endian(5 + fb)

    def convert(raw: int) -> datetime.datetime | str:
        value = flip(raw)
        packed, frac = (value >> (8 * fb)) - 0x8000000000, value & ((1 << (8 * fb)) - 1)
        ymd, hms = packed >> 17, packed & 0x1FFFF
        year_month = ymd >> 5
        return _datetime_value(year_month // 13, year_month % 13, ymd & 31,
                               (hms >> 12, (hms >> 6) & 63, hms & 63), _micros(frac, fsp), fsp)

    return convert


def _datetime_old(value: int) -> datetime.datetime | str:
    date, time = divmod(value, 1_000_000)
    return _datetime_value(date // 10000, date // 100 % 100, date % 100,
                           (time // 10000, time // 100 % 100, time % 100), 0, 0)


def _zero_timestamp(fsp: int) -> str:
    return "0000-00-00 00:00:00" + _frac_text(0, fsp)


def _timestamp2(fsp: int) -> Converter:
    fb = _frac_bytes(fsp)
    flip = _big_endian(4 + fb)

    def convert(raw: int) -> datetime.datetime | str:
        value = flip(raw)
        seconds, frac = value >> (8 * fb), value & ((1 << (8 * fb)) - 1)
        if seconds == 0 and frac == 0:
            return _zero_timestamp(fsp)
        return _EPOCH + datetime.timedelta(seconds=seconds, microseconds=_micros(frac, fsp))

    return convert


def _timestamp_old(value: int) -> datetime.datetime | str:
    return _zero_timestamp(0) if value == 0 else _EPOCH + datetime.timedelta(seconds=value)


def _time2(fsp: int) -> Converter:
    """TIME(fsp) in MySQL 5.6 binary format (MariaDB too): a biased big-endian fixed-point number."""
    fb = _frac_bytes(fsp)
    flip = _big_endian(3 + fb)

    def convert(raw: int) -> datetime.timedelta:
        value = flip(raw)
        if fb == 3:  # 48-bit packed value, offset 0x800000000000
            packed = value - 0x800000000000
        else:
            intpart, frac = (value >> (8 * fb)) - 0x800000, value & ((1 << (8 * fb)) - 1)
            if intpart < 0 and frac:
                intpart += 1
                frac -= 1 << (8 * fb)
            packed = (intpart << 24) + frac * _FRAC_UNIT[fb]
        sign = -1 if packed < 0 else 1
        packed = abs(packed)
        hms, micros = packed >> 24, packed & 0xFFFFFF
        delta = datetime.timedelta(hours=(hms >> 12) & 0x3FF, minutes=(hms >> 6) & 63, seconds=hms & 63,
                                   microseconds=micros)
        return -delta if sign < 0 else delta

    return convert


def _time_old(value: int) -> datetime.timedelta:
    if value >= 0x800000:
        value -= 0x1000000
    sign, value = (-1 if value < 0 else 1), abs(value)
    delta = datetime.timedelta(hours=value // 10000, minutes=value // 100 % 100, seconds=value % 100)
    return -delta if sign < 0 else delta


def _raw(size: int) -> dict[str, Any]:
    return {"type": FIELD_TYPE.ENUM, "enum_values": RAW, "size": size}


def _temporal(binlog_type: int, meta: Mapping[str, Any]) -> ColumnDecoder:
    fsp = int(meta.get("fsp") or 0)
    fb = _frac_bytes(fsp)
    table: dict[int, tuple[int, Converter]] = {
        FIELD_TYPE.DATE: (3, _date_decoder),
        FIELD_TYPE.NEWDATE: (3, _date_decoder),
        FIELD_TYPE.DATETIME2: (5 + fb, _datetime2(fsp)),
        FIELD_TYPE.DATETIME: (8, _datetime_old),
        FIELD_TYPE.TIMESTAMP2: (4 + fb, _timestamp2(fsp)),
        FIELD_TYPE.TIMESTAMP: (4, _timestamp_old),
        FIELD_TYPE.TIME2: (3 + fb, _time2(fsp)),
        FIELD_TYPE.TIME: (3, _time_old),
    }
    size, convert = table[binlog_type]
    return ColumnDecoder(_raw(size), convert)


# --- ENUM, SET, BIT, JSON ---------------------------------------------------------------------

_ESCAPES: Final = {"0": "\0", "n": "\n", "r": "\r", "t": "\t", "Z": "\x1a", "b": "\b"}


def parse_labels(column_type: str) -> list[str]:
    """The labels of ``enum('a','b''c')`` / ``set(...)`` as information_schema spells them."""
    start = column_type.find("(")
    if start < 0 or not column_type.rstrip().endswith(")"):
        raise ValueError(f"not an ENUM/SET declaration: {column_type!r}")
    text, i, labels = column_type[start + 1 : column_type.rstrip().rfind(")")], 0, []
    while i < len(text):
        if text[i] in " ,":
            i += 1
            continue
        if text[i] != "'":
            raise ValueError(f"cannot parse the labels of {column_type!r}")
        i, chars = i + 1, []
        while True:
            if i >= len(text):
                raise ValueError(f"unterminated label in {column_type!r}")
            ch = text[i]
            if ch == "'" and text[i + 1 : i + 2] == "'":
                chars.append("'")
                i += 2
            elif ch == "'":
                i += 1
                break
            elif ch == "\\" and i + 1 < len(text):
                chars.append(_ESCAPES.get(text[i + 1], text[i + 1]))
                i += 2
            else:
                chars.append(ch)
                i += 1
        labels.append("".join(chars))
    return labels


def _enum(labels: list[str]) -> Converter:
    table = ["", *labels]

    def label(index: int) -> str:  # index 0 is the "invalid value" '' of permissive sql_mode
        return table[index] if index < len(table) else ""

    return label


def _set(labels: list[str]) -> Converter:
    bits = [(1 << i, name) for i, name in enumerate(labels)]

    def members(mask: int) -> str:
        return ",".join(name for bit, name in bits if mask & bit)

    return members


def _bit(size: int) -> Converter:
    def to_bytes(value: int) -> bytes:  # the raw bytes, big-endian, as SELECT returns them
        return value.to_bytes(size, "little")

    return to_bytes


def _mysql_json(value: Any) -> str:
    """MySQL's binary JSON, parsed by the library into Python objects, back to MySQL's text form."""

    def plain(v: Any) -> Any:
        if isinstance(v, bytes):
            return v.decode("utf-8", "surrogateescape")
        if isinstance(v, dict):
            return {plain(k): plain(x) for k, x in v.items()}
        if isinstance(v, list):
            return [plain(x) for x in v]
        return v

    if isinstance(value, str):  # MariaDB: the text itself
        return value
    return json.dumps(plain(value), ensure_ascii=False, separators=(", ", ": "))


def column_decoder(col: Column, binlog_type: int, meta: Mapping[str, Any]) -> ColumnDecoder:
    """The decoder for binlog column ``binlog_type`` (with the library's ``meta``) holding ``col``.

    Raises ValueError when the two cannot be the same column or the type is not supported.
    """
    if col.data_type not in _EXPECTED:
        raise ValueError(f"column {col.name!r} has type {col.column_type!r}, which binlog capture does not support")
    if not binlog_type_matches(col, binlog_type):
        raise ValueError(f"column {col.name!r} is {col.column_type!r} in the catalog but binlog type {binlog_type}")
    if binlog_type in (FIELD_TYPE.TINY, FIELD_TYPE.SHORT, FIELD_TYPE.INT24, FIELD_TYPE.LONG, FIELD_TYPE.LONGLONG,
                       FIELD_TYPE.FLOAT, FIELD_TYPE.DOUBLE, FIELD_TYPE.NEWDECIMAL, FIELD_TYPE.YEAR):
        return _number(col, binlog_type)
    if binlog_type in (FIELD_TYPE.DATE, FIELD_TYPE.NEWDATE, FIELD_TYPE.DATETIME, FIELD_TYPE.DATETIME2,
                       FIELD_TYPE.TIMESTAMP, FIELD_TYPE.TIMESTAMP2, FIELD_TYPE.TIME, FIELD_TYPE.TIME2):
        return _temporal(binlog_type, meta)
    if binlog_type == FIELD_TYPE.ENUM:
        return ColumnDecoder({"enum_values": RAW}, _enum(parse_labels(col.column_type)))
    if binlog_type == FIELD_TYPE.SET:
        return ColumnDecoder({"type": FIELD_TYPE.ENUM, "enum_values": RAW}, _set(parse_labels(col.column_type)))
    if binlog_type == FIELD_TYPE.BIT:
        size = int(meta["bytes"])
        return ColumnDecoder(_raw(size), _bit(size))
    if binlog_type == FIELD_TYPE.JSON:
        return ColumnDecoder(convert=_mysql_json)
    return _string(col)
