"""`methodflow run --json` in this process: the same run as `methodflow run`, answered as one JSON
document on stdout (`{"state": "COMPLETED", "main_stuff": ...}`, or the failure's problem document
with exit 1); progress lines still go to stderr.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shared.runtime.caller_inputs import InputRefused
from shared.runtime.run_failure import PipeRunError
from worker.cli_output import EXIT_FAILED, EXIT_OK, print_json
from worker.in_process import MethodInvalid

if TYPE_CHECKING:
    from worker.run_command import LocalRun


def run_as_json(run: LocalRun) -> int:
    """Run, print the one JSON document, return the exit code."""
    try:
        outcome = run.outcome()
    except MethodInvalid as invalid:
        errors = [issue.to_problem_item() for issue in invalid.report.issues]
        print_json(_problem("method.invalid", "The method does not validate", str(invalid), errors=errors))
        return EXIT_FAILED
    except InputRefused as refused:
        print_json(_problem(refused.code, "The request was refused", refused.message, params=refused.params))
        return EXIT_FAILED
    except PipeRunError as failure:
        print_json(_problem(failure.code, "The run failed", failure.message, pipe=failure.pipe))
        return EXIT_FAILED
    print_json({"state": "COMPLETED", "main_stuff": outcome.main_json()})
    return EXIT_OK


def _problem(code: str, title: str, detail: str, **members: Any) -> dict[str, Any]:
    document: dict[str, Any] = {"type": "about:blank", "title": title, "detail": detail, "code": code}
    document.update({name: value for name, value in members.items() if value})
    return document
