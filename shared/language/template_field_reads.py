"""Field reads a template makes that its inputs' concepts do not declare (`{{ ticket.titel }}`). Pure.

Walks the Jinja AST knowing what each name holds: the pipe's inputs (concept, single or list), loop
variables over a list of concept contents, `{% set %}` / `{% with %}` aliases of such values. A read is
judged only where the holder's fields are known (`template_shapes`); everything else (scalars, dicts,
lists, filters' results, macro parameters, unknown names) is never judged, so a warning is never a guess.
Presence probes (`x.f is defined`, `x.f | default(...)`) are not reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from jinja2 import nodes

from shared.language.template_shapes import ConceptShapes, FieldHolder

_PROBE_TESTS = frozenset({"defined", "undefined"})
_DEFAULT_FILTERS = frozenset({"default", "d"})
_ITEM_FILTERS = frozenset({"first", "last"})
# Nested contents are dicts, whose methods a template may call (`author.items()`).
_DICT_METHODS = frozenset({"get", "items", "keys", "values"})

Env = dict[str, FieldHolder | None]


@dataclass(frozen=True)
class UnknownFieldRead:
    """One read of a field the holder's concept does not declare."""

    path: str
    field: str
    concept: str
    suggestion: str | None
    message: str


def _spelled(node: nodes.Node) -> str:
    if isinstance(node, nodes.Name):
        return node.name
    if isinstance(node, nodes.Getattr):
        return f"{_spelled(node.node)}.{node.attr}"
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
        return f"{_spelled(node.node)}[{node.arg.value!r}]"
    return "(…)"


def _names_bound(target: nodes.Node) -> list[str]:
    return [name.name for name in [target, *target.find_all(nodes.Name)] if isinstance(name, nodes.Name)]


class _FieldWalker:
    def __init__(self, shapes: ConceptShapes) -> None:
        self.shapes = shapes
        self.found: dict[str, UnknownFieldRead] = {}

    def block(self, statements: list[nodes.Node], env: Env) -> None:
        for statement in statements:
            self.statement(statement, env)

    def statement(self, node: nodes.Node, env: Env) -> None:
        if isinstance(node, nodes.For):
            held = self.value(node.iter, env)
            inner: Env = {**env, "loop": None}
            for name in _names_bound(node.target):
                inner[name] = None
            if isinstance(node.target, nodes.Name) and held is not None and held.is_list:
                inner[node.target.name] = FieldHolder(held.concept, is_list=False)
            if node.test is not None:
                self.value(node.test, inner)
            self.block(node.body, inner)
            self.block(node.else_, dict(env))
        elif isinstance(node, nodes.Assign):
            held = self.value(node.node, env)
            names = _names_bound(node.target)
            for name in names:
                env[name] = None
            if isinstance(node.target, nodes.Name):
                env[node.target.name] = held
        elif isinstance(node, nodes.With):
            inner = dict(env)
            for target, value in zip(node.targets, node.values, strict=False):
                held = self.value(value, env)
                for name in _names_bound(target):
                    inner[name] = held if isinstance(target, nodes.Name) else None
            self.block(node.body, inner)
        elif isinstance(node, (nodes.Macro, nodes.CallBlock)):
            if isinstance(node, nodes.CallBlock):
                self.value(node.call, env)
            inner = {**env, **dict.fromkeys(("varargs", "kwargs", "caller"))}
            inner.update(dict.fromkeys(arg.name for arg in node.args))
            for default in node.defaults:
                self.value(default, inner)
            self.block(node.body, inner)
            if isinstance(node, nodes.Macro):
                env[node.name] = None
        else:
            # `if` branches, `set` blocks, outputs, filter blocks: walk children in order; a name any
            # branch rebinds is no longer known after it.
            for child in node.iter_child_nodes():
                if isinstance(child, nodes.Stmt):
                    branch = dict(env)
                    self.statement(child, branch)
                    env.update({name: None for name in branch if branch[name] != env.get(name)})
                else:
                    self.value(child, env)
            if isinstance(node, nodes.AssignBlock):
                env.update(dict.fromkeys(_names_bound(node.target)))

    def value(self, node: nodes.Node, env: Env, *, probe: bool = False) -> FieldHolder | None:
        """Walk an expression, judging its field reads; what it holds when that is concept contents."""
        if isinstance(node, nodes.Name):
            return env.get(node.name)
        if isinstance(node, nodes.Getattr):
            return self._field(node, self.value(node.node, env), node.attr, probe=probe)
        if isinstance(node, nodes.Getitem):
            held = self.value(node.node, env)
            self.value(node.arg, env)
            key = node.arg.value if isinstance(node.arg, nodes.Const) else None
            if isinstance(key, str):
                return self._field(node, held, key, probe=probe)
            if isinstance(key, int) and held is not None and held.is_list:
                return FieldHolder(held.concept, is_list=False)
            return None
        if isinstance(node, nodes.Test):
            self.value(node.node, env, probe=node.name in _PROBE_TESTS)
            self._walk_all([*node.args, *node.kwargs], env)
            return None
        if isinstance(node, nodes.Filter):
            held = (
                self.value(node.node, env, probe=node.name in _DEFAULT_FILTERS)
                if node.node is not None
                else None
            )
            self._walk_all([*node.args, *node.kwargs], env)
            if node.name in _ITEM_FILTERS and held is not None and held.is_list:
                return FieldHolder(held.concept, is_list=False)
            return None
        self._walk_all(list(node.iter_child_nodes()), env)
        return None

    def _walk_all(self, children: list[nodes.Node], env: Env) -> None:
        for child in children:
            self.value(child, env)

    def _field(
        self, node: nodes.Node, held: FieldHolder | None, name: str, *, probe: bool
    ) -> FieldHolder | None:
        if held is None or held.is_list or name.startswith("_") or name in _DICT_METHODS:
            return None  # lists are not judged; `_` names are the private-name check's business
        shape = self.shapes.shape_of(held.concept)
        if shape is None:
            return None
        if shape.has(name):
            return shape.holders.get(name)
        path = _spelled(node)
        if not probe and path not in self.found:
            self.found[path] = UnknownFieldRead(
                path, name, shape.concept, shape.suggestion(name), shape.describe_missing(name)
            )
        return None


def unknown_field_reads(
    template: nodes.Template, shapes: ConceptShapes, inputs: Mapping[str, FieldHolder]
) -> list[UnknownFieldRead]:
    """Every distinct read (by spelled path) of a field the holder's concept does not declare, in order."""
    walker = _FieldWalker(shapes)
    env: Env = dict(inputs)
    walker.block(template.body, env)
    return list(walker.found.values())
