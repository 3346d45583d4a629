"""CLI output helpers: what people read (tables) and what scripts parse (JSON, error lines)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import typer

from opendrs.cli.output import (
    EMPTY,
    CliError,
    OutputFormat,
    cell,
    cli_errors,
    dumps_json,
    emit,
    error_line,
    fmt_time,
    item_error,
    kv_table,
    render_text,
    status_text,
    table,
)
from opendrs.client import ApiError

JOB_ID = "24834eb6-be30-464e-a299-f7aa730jb101"


# --- cells and values --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (None, EMPTY),
        ("", EMPTY),
        ([], EMPTY),
        ({}, EMPTY),
        (True, "yes"),
        (False, "no"),
        (0, "0"),
        (3306, "3306"),
        ("CONFIGURATION", "CONFIGURATION"),
        ({"b": 1, "a": [1, "x"]}, '{"b":1,"a":[1,"x"]}'),
        (["so", "ta"], '["so","ta"]'),
    ],
)
def test_cell_renders_each_kind_of_value(value: object, shown: str) -> None:
    assert cell(value) == shown


def test_fmt_time_turns_epoch_ms_into_local_time() -> None:
    expected = datetime.fromtimestamp(1599188556112 / 1000, tz=UTC).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    assert fmt_time("1599188556112") == expected
    assert fmt_time(1599188556112) == expected


@pytest.mark.parametrize(("value", "shown"), [
    ("", EMPTY), (None, EMPTY), ("0", EMPTY), ("2020-12-21 10:57:49", "2020-12-21 10:57:49"),
])
def test_fmt_time_leaves_other_values_readable(value: object, shown: str) -> None:
    assert fmt_time(value) == shown


def test_status_colours_say_what_the_status_means() -> None:
    assert status_text("INCRE_TRANSFER_FAILED").style == "red"
    assert status_text("START_JOB_FAILED").style == "red"
    assert status_text("INCRE_TRANSFER_STARTED").style == "bold green"
    assert status_text("CONFIGURATION").style == "blue"
    assert status_text("SOMETHING_NEW").style == ""
    assert status_text(None).plain == EMPTY


# --- tables ----------------------------------------------------------------------------------


def test_table_shows_headers_and_values() -> None:
    text = render_text(table(["ID", "NAME", "STATUS", "ENABLED"],
                             [[JOB_ID, "task_one", status_text("CONFIGURATION"), True],
                              ["other", None, status_text("PAUSING"), False]]), width=120)
    for expected in ("ID", "NAME", "STATUS", JOB_ID, "task_one", "CONFIGURATION", "PAUSING", "yes", "no"):
        assert expected in text
    assert "None" not in text


def test_ids_stay_on_one_line_while_free_text_wraps() -> None:
    long_text = "word " * 30
    text = render_text(table(["ID", "DESCRIPTION"], [[JOB_ID, long_text]]), width=80)
    assert JOB_ID in text  # not folded: it can be copied
    assert len(text.splitlines()) > 5  # the description wrapped instead


def test_table_title_and_empty_table() -> None:
    text = render_text(table(["A"], [], title="Selected objects"))
    assert "Selected objects" in text
    assert "A" in text


def test_kv_table_lists_fields_in_order() -> None:
    text = render_text(kv_table([("ID", JOB_ID), ("Status", status_text("PAUSING")), ("Description", None)]))
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    assert lines[0].split() == ["ID", JOB_ID]
    assert lines[1].split() == ["Status", "PAUSING"]
    assert lines[2].split() == ["Description", EMPTY]


# --- JSON --------------------------------------------------------------------------------------


def test_dumps_json_is_parseable_and_keeps_unicode() -> None:
    data = {"name": "任务", "count": 2, "amount": Decimal("1.50"), "jobs": [{"id": JOB_ID}]}
    text = dumps_json(data)
    assert "任务" in text
    assert json.loads(text) == {"name": "任务", "count": 2, "amount": "1.50", "jobs": [{"id": JOB_ID}]}


def test_emit_json_prints_only_the_data(capsys: pytest.CaptureFixture[str]) -> None:
    emit({"total_record": 1, "jobs": [{"id": JOB_ID}]}, OutputFormat.json, human=table(["X"], [["ignored"]]))
    out = capsys.readouterr().out
    assert json.loads(out) == {"total_record": 1, "jobs": [{"id": JOB_ID}]}
    assert "ignored" not in out


def test_emit_table_prints_the_human_view(capsys: pytest.CaptureFixture[str]) -> None:
    emit({"raw": True}, OutputFormat.table, human=table(["ID"], [[JOB_ID]]))
    out = capsys.readouterr().out
    assert JOB_ID in out
    assert '"raw"' not in out


# --- errors ------------------------------------------------------------------------------------


def test_error_line_format() -> None:
    assert error_line("DRS.M00298", "Job does not exist, please check job id.") == (
        "DRS.M00298: Job does not exist, please check job id.")
    assert error_line(None, "cannot read task.yaml") == "cannot read task.yaml"
    assert CliError("boom", "DRS.M00304").line() == "DRS.M00304: boom"


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ({"id": JOB_ID, "status": "success"}, None),
        ({"id": JOB_ID, "status": "CONFIGURATION", "error_code": "", "error_message": ""}, None),
        ({"job_id": JOB_ID, "status": True}, None),
        ({"id": JOB_ID, "status": "failed", "error_code": "DRS.M00298", "error_msg": "Job does not exist."},
         ("DRS.M00298", "Job does not exist.")),
        ({"id": JOB_ID, "error_code": "DRS.M05004", "error_message": "deleted"}, ("DRS.M05004", "deleted")),
        ({"job_id": JOB_ID, "status": False, "error_code": "DRS.M00304", "error_msg": "status"},
         ("DRS.M00304", "status")),
        ({"id": JOB_ID, "success": False}, ("", "failed")),
    ],
)
def test_item_error_reads_per_item_failures(item: dict[str, object], expected: tuple[str, str] | None) -> None:
    assert item_error(item) == expected


def test_cli_errors_print_one_line_and_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(typer.Exit) as exit_info, cli_errors():
        raise ApiError(400, "DRS.M00298", "Job does not exist, please check job id.")
    assert exit_info.value.exit_code == 1
    captured = capsys.readouterr()
    assert captured.err.strip() == "DRS.M00298: Job does not exist, please check job id."
    assert captured.out == ""
    assert "Traceback" not in captured.err


def test_cli_errors_handles_own_errors_and_ctrl_c(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(typer.Exit) as exit_info, cli_errors():
        raise CliError("missing --ak")
    assert exit_info.value.exit_code == 1
    assert capsys.readouterr().err.strip() == "missing --ak"
    with pytest.raises(typer.Exit) as exit_info, cli_errors():
        raise KeyboardInterrupt
    assert exit_info.value.exit_code == 130


def test_cli_errors_lets_bugs_through() -> None:
    with pytest.raises(ZeroDivisionError), cli_errors():
        _ = 1 / 0
