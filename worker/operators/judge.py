"""PipeJudge for real (mthds.md): to be written."""

from __future__ import annotations

from shared.runtime.operator_call import OperatorCall, Produced
from shared.runtime.run_failure import FailureCode, PipeRunError
from worker.operators.context import OperatorContext


async def run_judge(call: OperatorCall, context: OperatorContext) -> Produced:
    """The call's output; failures raise a typed `PipeRunError`."""
    raise PipeRunError(
        FailureCode.MODEL_UNAVAILABLE,
        f"PipeJudge '{call.pipe.code}' is not implemented yet",
        params={"pipe_type": "PipeJudge", "run_key": context.run_key},
    )
