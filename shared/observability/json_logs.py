"""Log lines as JSON (`LOG_FORMAT=json`): one object a line with `ts`, `level`, `logger`, `message`, and
the run id, request id, pipe and tenant where known, for log stores that index fields.

The fields come from `log_fields` (set by the API's request middleware and the worker's activity
interceptor) and from what Temporal's own loggers attach (`temporal_activity`, `temporal_workflow`),
so lines of the workflow sandbox name their run too. Configuring the process's loggers is the one side
effect here, done once at start-up by each process's entry point.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal, TextIO, cast

from temporalio import activity, workflow

from shared.observability.log_fields import current_log_fields, run_fields
from shared.runs.timestamps import rfc3339

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Attributes a logging call may set itself (`extra=`), taken as fields of the line.
_RECORD_FIELDS = ("request_id", "run_id", "pipe", "tenant")
# What Temporal's loggers attach to their records (`extra`), and the field each key becomes.
_TEMPORAL_EXTRAS = {
    "temporal_activity": {"activity_type": "activity"},
    "temporal_workflow": {"workflow_type": "workflow"},
}


class JsonLogFormatter(logging.Formatter):
    """One JSON object per record, on one line (newlines inside messages are escaped)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": rfc3339(datetime.fromtimestamp(record.created, UTC)),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(_temporal_fields(record))
        line.update(current_log_fields())
        for name in _RECORD_FIELDS:
            value = record.__dict__.get(name)
            if isinstance(value, str) and value:
                line[name] = value
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def _temporal_fields(record: logging.LogRecord) -> dict[str, str]:
    fields: dict[str, str] = {}
    for extra, renamed in _TEMPORAL_EXTRAS.items():
        details = record.__dict__.get(extra)
        if not isinstance(details, Mapping):
            continue
        found = cast("Mapping[str, object]", details)
        workflow_id = found.get("workflow_id")
        if isinstance(workflow_id, str):
            fields.update(run_fields(workflow_id))
        fields.update({name: str(found[key]) for key, name in renamed.items() if key in found})
    return fields


def use_json_logs(level: str, *, loggers: Sequence[str] = (), stream: TextIO | None = None) -> None:
    """Write every record as a JSON line to `stream` (stderr): the root logger's, and those of `loggers`
    that keep handlers of their own (uvicorn's), whose handlers are replaced."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonLogFormatter())
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    for name in loggers:
        named = logging.getLogger(name)
        named.handlers = [handler]
        named.propagate = False  # one line per record, not one here and one at the root
    # Temporal appends its context to the message as a dict's repr; here it becomes fields instead.
    activity.logger.activity_info_on_message = False
    workflow.logger.workflow_info_on_message = False


def configure_logging(level: str, log_format: Literal["text", "json"]) -> None:
    """The process's logging at start-up: plain lines (`text`) or JSON lines (`json`) on stderr."""
    if log_format == "json":
        use_json_logs(level)
    else:
        logging.basicConfig(level=level, format=TEXT_FORMAT)
