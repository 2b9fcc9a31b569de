"""Pipes that call themselves, directly or through other controllers: refused statically. Pure.

The reference fails such bundles at run time (nesting deeper than 20, `pipe.stack_overflow`); every
controller runs all of its children in a dry run, so a cycle can never validate there either.
"""

from __future__ import annotations

from shared.language.issues import Category, Issue
from shared.language.library import Library, PipeEntry
from shared.language.pipe_blueprints import BindingStep, PipeBatch, PipeCondition, PipeParallel, PipeSequence

_SPECIAL_OUTCOMES = frozenset({"fail", "continue"})


def callees(library: Library, entry: PipeEntry) -> list[str]:
    """Refs of the pipes a controller calls (unresolvable references left out)."""
    blueprint = entry.blueprint
    references: list[str] = []
    if isinstance(blueprint, PipeSequence):
        references = [step.pipe for step in blueprint.steps if not isinstance(step, BindingStep)]
    elif isinstance(blueprint, PipeParallel):
        references = [branch.pipe for branch in blueprint.branches]
    elif isinstance(blueprint, PipeCondition):
        targets = [*blueprint.outcomes.values(), blueprint.default_outcome]
        references = [target for target in targets if target not in _SPECIAL_OUTCOMES]
    elif isinstance(blueprint, PipeBatch):
        references = [blueprint.branch_pipe_code]
    resolved = (library.resolve_pipe(reference, entry.domain) for reference in references)
    return [ref for ref in resolved if ref is not None]


def cycle_issues(library: Library) -> list[Issue]:
    """One issue per cycle of calls, located at the first pipe of the cycle in declaration order."""
    graph = {ref: callees(library, entry) for ref, entry in library.pipes.items()}
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    issues: list[Issue] = []
    for start in graph:
        if state.get(start):
            continue
        path: list[str] = [start]
        stack = [iter(graph[start])]
        state[start] = 1
        while stack:
            child = next(stack[-1], None)
            if child is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(child) == 1:
                loop = [*path[path.index(child) :], child]
                issues.append(_cycle_issue(library.pipes[child], loop))
            elif not state.get(child):
                state[child] = 1
                path.append(child)
                stack.append(iter(graph[child]))
    return issues


def _cycle_issue(entry: PipeEntry, loop: list[str]) -> Issue:
    chain = " → ".join(ref.rpartition(".")[2] for ref in loop)
    return Issue(
        category=Category.PIPE,
        code="pipe.stack_overflow",
        message=f"Pipe '{entry.code}' calls itself ({chain}); a pipe can never run inside itself.",
        file=entry.file,
        pipe=entry.code,
        domain=entry.domain,
        field=f"pipe.{entry.code}",
        line=entry.line,
        params={"cycle": [ref.rpartition(".")[2] for ref in loop]},
    )
