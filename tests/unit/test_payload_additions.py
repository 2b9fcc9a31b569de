"""Fields added to workflow payloads after workers were deployed stay out of a payload that does not use
them (`shared/runs/payload_additions.py`): an older worker, which refuses unknown fields, reads it."""

from __future__ import annotations

import json
from typing import Any

import pydantic_core
import pytest
from pydantic import BaseModel, ConfigDict, ValidationError

from shared.runs.batch_io import BatchEnd
from shared.runs.workflow_io import ActivityPolicy, BindingAsk, OperatorAnswer, OperatorTask


class OlderOperatorTask(BaseModel):
    """`OperatorTask` as a worker that predates `binding` declares it."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    run_id: str
    storage_prefix: str
    method_digest: str
    pipe_ref: str
    inputs: dict[str, Any]
    output_concept: str
    output_is_list: bool = False
    output_count: int | None = None
    seed: str
    nb_output: int | None = None


def task(**changes: Any) -> OperatorTask:
    fields: dict[str, Any] = {
        "run_id": "r",
        "storage_prefix": "t_1",
        "method_digest": "abc",
        "pipe_ref": "d.p",
        "inputs": {},
        "output_concept": "native.Text",
        "seed": "s",
    }
    return OperatorTask(**{**fields, **changes})


def test_a_task_without_a_binding_reads_in_a_worker_that_predates_it() -> None:
    sent = pydantic_core.to_json(task())
    assert "binding" not in json.loads(sent)
    OlderOperatorTask.model_validate_json(sent)
    assert OperatorTask.model_validate_json(sent) == task()


def test_a_task_with_a_binding_carries_it_and_an_older_worker_refuses_it() -> None:
    bound = task(binding=BindingAsk(root="doc", segments=["body"], concept="native.Text"))
    sent = pydantic_core.to_json(bound)
    assert OperatorTask.model_validate_json(sent) == bound
    with pytest.raises(ValidationError, match="binding"):
        OlderOperatorTask.model_validate_json(sent)


@pytest.mark.parametrize(
    ("unused", "used", "added"),
    [
        (
            OperatorAnswer(content={"text": "x"}),
            OperatorAnswer(content=None, is_list=True, empty="doc.note"),
            {"is_list", "empty"},
        ),
        (
            BatchEnd(total=3, done=3, failed=0),
            BatchEnd(total=3, done=1, failed=0, cancelled=True),
            {"cancelled"},
        ),
        (ActivityPolicy(), ActivityPolicy(batch_chunk_concurrency=8), {"batch_chunk_concurrency"}),
    ],
)
def test_unused_additions_are_left_out_and_used_ones_kept(
    unused: BaseModel, used: BaseModel, added: set[str]
) -> None:
    assert not added & set(json.loads(pydantic_core.to_json(unused)))
    assert added <= set(json.loads(pydantic_core.to_json(used)))
    assert type(used).model_validate_json(pydantic_core.to_json(used)) == used
