"""What a run's results routes answer before any result is read (http-api.md §9.6): `202` with
`Retry-After` while the run goes on, `409 run.failed` carrying the run's own problem when it ended
without results. `/results` and `/results/items` share it.
"""

from __future__ import annotations

from fastapi.responses import JSONResponse

from api.problems import ProblemError
from api.run_records import RunRecord
from shared.problems.catalogue import ProblemCode
from shared.runs.run_states import RunState
from shared.runs.workflow_io import RunEnd


def running_answer(record: RunRecord) -> JSONResponse | None:
    """The `202` for a run still going; None once it has ended."""
    if record.state.is_terminal:
        return None
    body = {"pipeline_run_id": record.run_id, "state": record.state.value, "status": record.state.value}
    return JSONResponse(body, status_code=202, headers={"Retry-After": "2"})


def completed_end(record: RunRecord) -> RunEnd:
    """The end of a completed run; `409 run.failed` for a run that ended any other way."""
    if record.state != RunState.COMPLETED or record.end is None:
        raise ProblemError(
            ProblemCode.RUN_FAILED,
            f"The run '{record.run_id}' ended {record.state.value}.",
            params={"run_status": record.state.value},
            pipeline_run_id=record.run_id,
            run_error=record.error,
        )
    return record.end
