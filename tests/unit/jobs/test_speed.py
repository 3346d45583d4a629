"""Flow-control windows (4.1.8): validation rules and the limit in force at a moment (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from opendrs.errors import InvalidParameter, SameStartEnd
from opendrs.jobs.speed import current_limit_mb, normalise, parse_window, validate_windows


def w(begin: str, end: str, speed: Any = "10", **extra: Any) -> dict[str, Any]:
    return {"begin": begin, "end": end, "speed": speed, **extra}


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2024, 5, 1, hour, minute, tzinfo=UTC)


def test_a_window_covers_whole_hours_begin_to_end_inclusive() -> None:
    window = parse_window(w("01:30", "03:59"))  # the minutes of begin are ignored
    assert window.hours == frozenset({1, 2, 3})
    assert window.label == "01:00-03:59"


def test_end_before_begin_wraps_past_midnight() -> None:
    assert parse_window(w("22:00", "01:59")).hours == frozenset({22, 23, 0, 1})


def test_sixteen_to_fifteen_fifty_nine_is_the_whole_day() -> None:
    assert parse_window(w("16:00", "15:59")).hours == frozenset(range(24))


@pytest.mark.parametrize(("begin", "end"), [("1:00", "03:59"), ("24:00", "03:59"), ("01:00", "3:59"),
                                            ("01:00", "03:60"), ("aa:bb", "03:59"), ("", "03:59")])
def test_times_must_be_hh_mm(begin: str, end: str) -> None:
    with pytest.raises(InvalidParameter) as err:
        parse_window(w(begin, end))
    assert err.value.error_code == "DRS.M00202"
    assert "hh:mm" in err.value.error_msg


def test_end_must_end_in_59_and_the_message_says_so() -> None:
    with pytest.raises(InvalidParameter) as err:
        parse_window(w("01:00", "03:30"))
    assert "03:59" in err.value.error_msg and "speed_limit[0].end" in err.value.error_msg


def test_begin_equal_to_end_is_m00306() -> None:
    with pytest.raises(SameStartEnd) as err:
        parse_window(w("03:59", "03:59"))
    assert err.value.error_code == "DRS.M00306"


@pytest.mark.parametrize("speed", ["0", "10000", "-1", "1.5", "fast", "", None])
def test_speed_is_1_to_9999(speed: Any) -> None:
    with pytest.raises(InvalidParameter, match="9999"):
        parse_window(w("01:00", "01:59", speed))


@pytest.mark.parametrize("speed", ["1", "9999", 15])
def test_speed_accepts_strings_and_numbers(speed: Any) -> None:
    assert parse_window(w("01:00", "01:59", speed)).speed_mb == int(speed)


def test_at_most_ten_windows() -> None:
    ten = [w(f"{h:02d}:00", f"{h:02d}:59") for h in range(10)]
    assert len(validate_windows(ten)) == 10
    with pytest.raises(InvalidParameter, match="at most 10"):
        validate_windows([*ten, w("20:00", "20:59")])


@pytest.mark.parametrize(
    "windows",
    [
        [w("01:00", "03:59"), w("03:00", "05:59")],  # shared hour 3
        [w("22:00", "01:59"), w("01:00", "02:59")],  # wrap-around meets the morning
        [w("16:00", "15:59"), w("08:00", "08:59")],  # whole day overlaps anything
        [w("23:00", "00:59"), w("00:00", "00:59")],
    ],
)
def test_overlaps_are_rejected_including_wrap_around(windows: list[dict[str, Any]]) -> None:
    with pytest.raises(InvalidParameter, match="overlap"):
        validate_windows(windows)


def test_adjacent_windows_do_not_overlap() -> None:
    assert len(validate_windows([w("22:00", "01:59"), w("02:00", "21:59")])) == 2


def test_mixed_is_utc_is_rejected() -> None:
    with pytest.raises(InvalidParameter, match="is_utc"):
        validate_windows([w("01:00", "01:59", is_utc=True), w("05:00", "05:59", is_utc=False)])


def test_normalise_keeps_the_given_times_and_a_string_speed() -> None:
    assert normalise([w("01:15", "02:59", 7)]) == [{"begin": "01:15", "end": "02:59", "speed": "7", "is_utc": True}]
    assert normalise([]) == []


def test_current_limit_inside_outside_and_at_the_edges() -> None:
    windows = normalise([w("01:00", "03:59", "10"), w("08:00", "08:59", "20")])
    assert current_limit_mb(windows, at(0, 59)) is None
    assert current_limit_mb(windows, at(1, 0)) == 10
    assert current_limit_mb(windows, at(3, 59)) == 10
    assert current_limit_mb(windows, at(4, 0)) is None
    assert current_limit_mb(windows, at(8, 30)) == 20
    assert current_limit_mb([], at(8, 30)) is None


def test_current_limit_wraps_past_midnight() -> None:
    windows = normalise([w("22:00", "01:59", "5")])
    assert [current_limit_mb(windows, at(h)) for h in (21, 22, 23, 0, 1, 2)] == [None, 5, 5, 5, 5, None]


def test_whole_day_window_always_applies() -> None:
    windows = normalise([w("16:00", "15:59", "15")])
    assert all(current_limit_mb(windows, at(h)) == 15 for h in range(24))


def test_current_limit_converts_other_zones_to_utc() -> None:
    windows = normalise([w("01:00", "01:59", "10")])
    plus8 = timezone(timedelta(hours=8))
    assert current_limit_mb(windows, datetime(2024, 5, 1, 9, 30, tzinfo=plus8)) == 10  # 01:30 UTC


def test_local_time_windows_use_the_given_zone() -> None:
    windows = normalise([w("09:00", "09:59", "10", is_utc=False)])
    plus8 = timezone(timedelta(hours=8))
    assert current_limit_mb(windows, at(1, 30), local_tz=plus8) == 10  # 09:30 local
    assert current_limit_mb(windows, at(9, 30), local_tz=plus8) is None


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        current_limit_mb([], datetime(2024, 5, 1, 1, 0))  # noqa: DTZ001


def test_a_corrupt_stored_window_is_skipped_not_fatal() -> None:
    windows = [{"begin": "xx", "end": "01:59", "speed": "5"}, w("02:00", "02:59", "9")]
    assert current_limit_mb(windows, at(2)) == 9
