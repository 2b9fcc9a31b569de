"""JSON log lines (`LOG_FORMAT=json`): one object a line, with the run id, request id, pipe and tenant where
known, from the log-field blocks and from what Temporal's loggers attach."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Generator
from datetime import UTC, datetime
from typing import Any

import pytest
from temporalio import activity, workflow

from shared.observability.json_logs import JsonLogFormatter, use_json_logs
from shared.observability.log_fields import add_log_fields, current_log_fields, log_fields, run_fields


def record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    made = logging.LogRecord("methodflow.test", logging.WARNING, __file__, 1, message, args, None)
    made.__dict__.update(extra)
    return made


def line(made: logging.LogRecord) -> dict[str, Any]:
    text = JsonLogFormatter().format(made)
    assert "\n" not in text
    return json.loads(text)


def test_a_line_carries_time_level_logger_and_the_formatted_message() -> None:
    made = record("run %s took %d s\nthen stopped", "r-1", 3)
    made.created = datetime(2026, 11, 23, 14, 7, 20, 179049, tzinfo=UTC).timestamp()
    assert line(made) == {
        "ts": "2026-11-23T14:07:20.179049Z",
        "level": "WARNING",
        "logger": "methodflow.test",
        "message": "run r-1 took 3 s\nthen stopped",
    }


def test_fields_come_from_the_innermost_block_and_stay_in_it() -> None:
    assert current_log_fields() == {}
    with log_fields(request_id="req-1"):
        add_log_fields(run_id="run-1", tenant="single-tenant", pipe=None)
        with log_fields(pipe="greet"):
            add_log_fields(activity="run_operator")
            found = line(record("inner"))
            assert {
                name: found.get(name) for name in ("request_id", "run_id", "tenant", "pipe", "activity")
            } == {
                "request_id": "req-1",
                "run_id": "run-1",
                "tenant": "single-tenant",
                "pipe": "greet",
                "activity": "run_operator",
            }
        assert current_log_fields() == {"request_id": "req-1", "run_id": "run-1", "tenant": "single-tenant"}
    assert current_log_fields() == {}
    add_log_fields(run_id="outside")  # outside any block: nowhere to add it
    assert "run_id" not in line(record("after"))


@pytest.mark.parametrize(
    ("workflow_id", "fields"),
    [
        ("k_0123/run-7", {"tenant": "k_0123", "run_id": "run-7"}),
        ("single-tenant/run-7:callbacks", {"tenant": "single-tenant", "run_id": "run-7"}),
        ("t_ab/run-7/batch/b1234/chunk/3", {"tenant": "t_ab", "run_id": "run-7"}),
        ("legacy-run", {"run_id": "legacy-run"}),
        ("legacy-run:callbacks", {"run_id": "legacy-run"}),
    ],
)
def test_a_workflow_id_names_its_run_and_tenant(workflow_id: str, fields: dict[str, str]) -> None:
    assert run_fields(workflow_id) == fields


def test_temporal_records_name_their_run_activity_and_workflow() -> None:
    details = {"workflow_id": "single-tenant/run-9", "activity_type": "deliver_callback", "attempt": 2}
    from_activity = line(record("delivered", temporal_activity=details))
    assert from_activity["run_id"] == "run-9"
    assert from_activity["tenant"] == "single-tenant"
    assert from_activity["activity"] == "deliver_callback"
    # Temporal's own run id (`run_id` in its workflow details) is not the service's run id.
    details = {"workflow_id": "k_1/run-8/batch/b1", "workflow_type": "RunBatch", "run_id": "0190-temporal"}
    from_workflow = line(record("batch", temporal_workflow=details))
    assert (from_workflow["run_id"], from_workflow["workflow"]) == ("run-8", "RunBatch")


def test_given_fields_win_and_exceptions_are_kept() -> None:
    with log_fields(run_id="from-block"):
        made = record("given", run_id="from-call", request_id="req-9", unrelated="left out")
        try:
            msg = "boom"
            raise ValueError(msg)  # noqa: TRY301 -- a real traceback to format
        except ValueError:
            made.exc_info = sys.exc_info()
        found = line(made)
    assert (found["run_id"], found["request_id"]) == ("from-call", "req-9")
    assert "unrelated" not in found
    assert found["exc"].startswith("Traceback")
    assert "ValueError: boom" in found["exc"]


@pytest.fixture
def json_logs() -> Generator[io.StringIO]:
    """`use_json_logs` writing to a buffer; every logger it touches is put back afterwards."""
    root, named = logging.getLogger(), logging.getLogger("methodflow.test.server")
    saved = (root.handlers[:], root.level, named.handlers[:], named.propagate)
    flags = (activity.logger.activity_info_on_message, workflow.logger.workflow_info_on_message)
    stream = io.StringIO()
    use_json_logs("INFO", loggers=["methodflow.test.server"], stream=stream)
    try:
        yield stream
    finally:
        root.handlers, named.handlers = saved[0], saved[2]
        root.setLevel(saved[1])
        named.propagate = saved[3]
        activity.logger.activity_info_on_message, workflow.logger.workflow_info_on_message = flags


def test_json_logs_write_one_object_a_line_once_per_record(json_logs: io.StringIO) -> None:
    with log_fields(request_id="req-2"):
        logging.getLogger("methodflow.test.app").info("first")
        logging.getLogger("methodflow.test.server").warning("second %s", "line")
        logging.getLogger("methodflow.test.app").debug("below the level")
    lines = [json.loads(text) for text in json_logs.getvalue().splitlines()]
    assert [(item["logger"], item["message"], item["request_id"]) for item in lines] == [
        ("methodflow.test.app", "first", "req-2"),
        ("methodflow.test.server", "second line", "req-2"),
    ]
    # Temporal's context becomes fields instead of a dict's repr at the end of the message.
    assert activity.logger.activity_info_on_message is False
    assert workflow.logger.workflow_info_on_message is False
