"""What a parsed Jinja template reads: its roots, their dotted paths, which reads are guarded, private reads.

Pure: walks a `jinja2.nodes.Template`, never compiles or renders it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from jinja2 import nodes

# Globals every Jinja environment defines: reading one is not reading an input.
JINJA_GLOBAL_NAMES = frozenset({"range", "dict", "lipsum", "cycler", "joiner", "namespace"})

# The underscore names a template may read: the stuff metadata of mthds.md §3.3.
METADATA_NAMES = frozenset({"_stuff_name", "_content_class", "_concept_code", "_stuff_code"})

# A root the interpreter itself provides (mthds.md §4.5), readable although it starts with `_`.
_PROVIDED_PRIVATE_ROOTS = frozenset({"_nb_output"})

_PRESENCE_TESTS = frozenset({"defined", "undefined", "none"})
_DEFAULT_FILTERS = frozenset({"default", "d"})
_NOTHING: frozenset[str] = frozenset()


def is_private_name(name: str) -> bool:
    """Whether a template may not read `name` as an attribute or item (mthds.md §3.3)."""
    return name.startswith("_") and name not in METADATA_NAMES


def guard_roots(test: nodes.Node) -> frozenset[str]:
    """Roots a test guarantees present in the branch it opens: `x`, `x is defined`, `and`.

    `x is not undefined` counts too, being `x is defined` spelled otherwise. `x is not none` does
    not: an absent optional input is undefined, and undefined "is not none" (as in the reference).
    """
    if isinstance(test, nodes.Name):
        return frozenset({test.name})
    if isinstance(test, nodes.Test) and test.name == "defined" and isinstance(test.node, nodes.Name):
        return frozenset({test.node.name})
    if isinstance(test, nodes.Not) and isinstance(test.node, nodes.Test):
        inner = test.node
        if inner.name == "undefined" and isinstance(inner.node, nodes.Name):
            return frozenset({inner.node.name})
    if isinstance(test, nodes.And):
        return guard_roots(test.left) | guard_roots(test.right)
    return _NOTHING


def _target_names(target: nodes.Node) -> frozenset[str]:
    names = [target, *target.find_all(nodes.Name)]
    return frozenset(name.name for name in names if isinstance(name, nodes.Name))


def _describe(expr: nodes.Node) -> str:
    """A short spelling of an expression for messages: a dotted path, a constant, or `(…)`."""
    if isinstance(expr, nodes.Name):
        return expr.name
    if isinstance(expr, nodes.Getattr):
        return f"{_describe(expr.node)}.{expr.attr}"
    if isinstance(expr, nodes.Const):
        return repr(expr.value)
    return "(…)"


@dataclass
class TemplateReads:
    """Everything one walk collects; filters and tests come with their line, for the caller to vet."""

    roots: set[str] = field(default_factory=set[str])
    unguarded_roots: set[str] = field(default_factory=set[str])
    private_reads: list[str] = field(default_factory=list[str])
    paths: set[tuple[str, ...]] = field(default_factory=set[tuple[str, ...]])
    filters: list[tuple[str, int]] = field(default_factory=list[tuple[str, int]])
    tests: list[tuple[str, int]] = field(default_factory=list[tuple[str, int]])
    template_loads: list[int] = field(default_factory=list[int])


class _Walker:
    def __init__(self, macro_names: frozenset[str]) -> None:
        self.reads = TemplateReads()
        self._macro_names = macro_names

    def _private(self, spelled: str) -> None:
        if spelled not in self.reads.private_reads:
            self.reads.private_reads.append(spelled)

    def _read(self, path: tuple[str, ...], bound: frozenset[str], guarded: frozenset[str]) -> None:
        root = path[0]
        is_input = root not in bound and root not in JINJA_GLOBAL_NAMES and root not in self._macro_names
        for index, segment in enumerate(path):
            if (
                (index > 0 or is_input)
                and is_private_name(segment)
                and segment not in _PROVIDED_PRIVATE_ROOTS
            ):
                self._private(".".join(path[: index + 1]))
                break
        if not is_input:
            return
        self.reads.roots.add(root)
        self.reads.paths.add(path)
        if root not in guarded:
            self.reads.unguarded_roots.add(root)

    def body(
        self, statements: Sequence[nodes.Node], bound: frozenset[str], guarded: frozenset[str]
    ) -> frozenset[str]:
        """Walk statements in order and return what is bound after them."""
        for statement in statements:
            bound = bound | self.statement(statement, bound, guarded)
        return bound

    def statement(self, node: nodes.Node, bound: frozenset[str], guarded: frozenset[str]) -> frozenset[str]:
        """Walk one statement and return the names it binds for the statements after it."""
        if isinstance(node, nodes.If):
            branch_bindings: list[frozenset[str]] = []
            for branch in (node, *node.elif_):
                self.test(branch.test, bound, guarded)
                branch_guarded = guarded | guard_roots(branch.test)
                branch_bindings.append(self.body(branch.body, bound, branch_guarded) - bound)
            branch_bindings.append(self.body(node.else_, bound, guarded) - bound)
            common = branch_bindings[0]
            for bindings in branch_bindings[1:]:
                common &= bindings
            return common
        if isinstance(node, nodes.For):
            self.expr(node.iter, bound, guarded)
            inner = bound | _target_names(node.target) | {"loop"}
            if node.test is not None:
                self.test(node.test, inner, guarded)
            self.body(node.body, inner, guarded)
            self.body(node.else_, bound, guarded)
            return _NOTHING
        if isinstance(node, nodes.Assign):
            self.expr(node.node, bound, guarded)
            self.expr(node.target, bound, guarded)
            return _target_names(node.target)
        if isinstance(node, nodes.AssignBlock):
            self.body(node.body, bound, guarded)
            self.exprs([node.filter] if node.filter is not None else [], bound, guarded)
            self.expr(node.target, bound, guarded)
            return _target_names(node.target)
        if isinstance(node, nodes.With):
            self.exprs(node.values, bound, guarded)
            targets = {name for target in node.targets for name in _target_names(target)}
            self.body(node.body, bound | targets, guarded)
            return _NOTHING
        if isinstance(node, (nodes.Macro, nodes.CallBlock)):
            if isinstance(node, nodes.CallBlock):
                self.expr(node.call, bound, guarded)
            inner = bound | {arg.name for arg in node.args} | {"varargs", "kwargs", "caller"}
            self.exprs(node.defaults, inner, guarded)
            self.body(node.body, inner, guarded)
            return _NOTHING
        if isinstance(node, (nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport)):
            self.reads.template_loads.append(node.lineno)
            return _NOTHING
        for child in node.iter_child_nodes():
            if isinstance(child, nodes.Stmt):
                bound = bound | self.statement(child, bound, guarded)
            else:
                self.expr(child, bound, guarded)
        return _NOTHING

    def test(self, node: nodes.Node, bound: frozenset[str], guarded: frozenset[str]) -> None:
        """Walk an `if` test: a bare name or a presence test there is a probe, not an unguarded read."""
        if isinstance(node, nodes.Name):
            self._read((node.name,), bound, guarded | {node.name})
        elif isinstance(node, nodes.Not):
            self.test(node.node, bound, guarded)
        elif isinstance(node, nodes.And):
            self.test(node.left, bound, guarded)
            self.test(node.right, bound, guarded | guard_roots(node.left))
        elif isinstance(node, nodes.Or):
            self.test(node.left, bound, guarded)
            self.test(node.right, bound, guarded)
        else:
            self.expr(node, bound, guarded)

    def exprs(
        self, expressions: Iterable[nodes.Node], bound: frozenset[str], guarded: frozenset[str]
    ) -> None:
        for expression in expressions:
            self.expr(expression, bound, guarded)

    def expr(self, node: nodes.Node, bound: frozenset[str], guarded: frozenset[str]) -> None:
        if isinstance(node, nodes.Name):
            if node.ctx == "load":
                self._read((node.name,), bound, guarded)
        elif isinstance(node, nodes.NSRef):
            self._read((node.name,), bound, guarded)
        elif isinstance(node, nodes.Getattr):
            self._attribute_chain(node, bound, guarded)
        elif isinstance(node, nodes.Getitem):
            self.expr(node.node, bound, guarded)
            self.expr(node.arg, bound, guarded)
            key = node.arg.value if isinstance(node.arg, nodes.Const) else None
            if isinstance(key, str) and is_private_name(key):
                self._private(f"{_describe(node.node)}.{key}")
        elif isinstance(node, nodes.CondExpr):
            self.test(node.test, bound, guarded)
            self.expr(node.expr1, bound, guarded | guard_roots(node.test))
            self.exprs([node.expr2] if node.expr2 is not None else [], bound, guarded)
        elif isinstance(node, (nodes.Filter, nodes.Test)):
            self._filter_or_test(node, bound, guarded)
        else:
            self.exprs(node.iter_child_nodes(), bound, guarded)

    def _attribute_chain(self, node: nodes.Getattr, bound: frozenset[str], guarded: frozenset[str]) -> None:
        attributes: list[str] = []
        base: nodes.Node = node
        while isinstance(base, nodes.Getattr):
            attributes.insert(0, base.attr)
            base = base.node
        if isinstance(base, nodes.Name):
            self._read((base.name, *attributes), bound, guarded)
            return
        self.expr(base, bound, guarded)
        private = next((index for index, name in enumerate(attributes) if is_private_name(name)), None)
        if private is not None:
            self._private(".".join([_describe(base), *attributes[: private + 1]]))

    def _filter_or_test(
        self, node: nodes.Filter | nodes.Test, bound: frozenset[str], guarded: frozenset[str]
    ) -> None:
        is_filter = isinstance(node, nodes.Filter)
        (self.reads.filters if is_filter else self.reads.tests).append((node.name, node.lineno))
        probes = _DEFAULT_FILTERS if is_filter else _PRESENCE_TESTS
        if isinstance(node.node, nodes.Name) and node.name in probes:
            self._read((node.node.name,), bound, guarded | {node.node.name})
        elif node.node is not None:
            self.expr(node.node, bound, guarded)
        self.exprs(node.args, bound, guarded)
        self.exprs(node.kwargs, bound, guarded)
        self.exprs([arg for arg in (node.dyn_args, node.dyn_kwargs) if arg is not None], bound, guarded)


def collect_template_reads(template: nodes.Template) -> TemplateReads:
    """Walk a parsed template once; may raise RecursionError on absurdly deep nesting.

    Scoping is kept simple: a `{% set %}` name is local for the statements after it (after an `if`, only
    when every branch sets it); loop targets and `loop` inside the loop; `{% with %}` targets inside the
    block; macro parameters (with `varargs`, `kwargs`, `caller`) inside the macro; macro names everywhere.
    """
    macro_names = frozenset(macro.name for macro in template.find_all(nodes.Macro))
    walker = _Walker(macro_names)
    walker.body(template.body, _NOTHING, _NOTHING)
    return walker.reads
