"""The operator activity's two memo steps: answer from a reusable entry, or write the entry once done.

The key is computed from the task as the workflow sent it, so stored inputs count by their marker and
nothing is read back to hash it. Pipe digests and concept schemas are kept per method, since every
item of a batch asks for the same ones. Binding steps are bookkeeping over a stored content and are
never memoized.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime

from shared.language.library import Library
from shared.language.pipe_blueprints import PipeFunc
from shared.runs.memo_keys import concept_schema_digest, invocation_concepts, invocation_key, pipe_digest
from shared.runs.workflow_io import OperatorAnswer, OperatorTask
from shared.runtime.function_registry import FunctionRegistry
from shared.storage.blob_store import BlobStore
from shared.storage.memo_store import MemoEntry, find_entry, put_entry

_DIGESTS_KEPT = 4096


class MemoSteps:
    """Memo lookups and writes of one worker process; thread-safe (activities call it off the loop)."""

    def __init__(self, store: BlobStore, functions: FunctionRegistry) -> None:
        self.store = store
        self.functions = functions
        self._digests: OrderedDict[tuple[str, str, str], str] = OrderedDict()
        self._lock = threading.Lock()

    def key(self, task: OperatorTask, library: Library) -> str | None:
        """The task's memo key; None when the run keeps no memo or the step is a binding."""
        if task.memo is None or task.binding is not None:
            return None
        inputs = {name: (stuff.concept, stuff.content, stuff.is_list) for name, stuff in task.inputs.items()}
        output = {
            "concept": task.output_concept,
            "is_list": task.output_is_list,
            "count": task.output_count,
            "nb_output": task.nb_output,
        }
        schemas = {
            concept: self._kept(
                ("schema", task.method_digest, concept), lambda c=concept: concept_schema_digest(library, c)
            )
            for concept in invocation_concepts(inputs, output)
        }
        pipe = self._kept(
            ("pipe", task.method_digest, task.pipe_ref), lambda: self._pipe_digest(task, library)
        )
        return invocation_key(pipe, inputs, output, schemas)

    def reused(self, task: OperatorTask, key: str | None) -> OperatorAnswer | None:
        """The answer of an entry the run may reuse, marked with the run it came from; else None."""
        memo = task.memo
        if key is None or memo is None or not (memo.reuse_runs or memo.reuse_tenant):
            return None
        entry = find_entry(self.store, task.storage_prefix, key, memo)
        if entry is None:
            return None
        return entry.answer.model_copy(update={"reused_from": entry.run_id})

    def remember(self, task: OperatorTask, key: str | None, answer: OperatorAnswer) -> None:
        """Write the entry of an invocation this run completed (a reused one already has its entry)."""
        if key is None or task.memo is None or not task.memo.write or answer.reused_from is not None:
            return
        entry = MemoEntry(
            run_id=task.run_id,
            pipe_ref=task.pipe_ref,
            created_at=datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            answer=answer,
        )
        put_entry(self.store, task.storage_prefix, key, entry)

    def _pipe_digest(self, task: OperatorTask, library: Library) -> str:
        entry = library.pipes[task.pipe_ref]
        blueprint = entry.blueprint
        function = self.functions.get(blueprint.function_name) if isinstance(blueprint, PipeFunc) else None
        return pipe_digest(entry, function)

    def _kept(self, cache_key: tuple[str, str, str], compute: Callable[[], str]) -> str:
        """A digest of one method's pipe or concept, computed once (every batch item asks the same)."""
        with self._lock:
            digest = self._digests.get(cache_key)
            if digest is not None:
                self._digests.move_to_end(cache_key)
                return digest
        digest = compute()
        with self._lock:
            self._digests[cache_key] = digest
            while len(self._digests) > _DIGESTS_KEPT:
                self._digests.popitem(last=False)
        return digest
