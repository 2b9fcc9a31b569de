"""The sandboxed Jinja environment MTHDS templates render in, safe in Temporal workflow code (mthds.md §8).

Pure: no loader (no filesystem), no randomness (the `random` filter and `lipsum` are removed).
"""

from __future__ import annotations

import types
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, NoReturn, cast

from jinja2 import StrictUndefined, Undefined, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.runtime import BlockReference, Context, LoopContext, Macro
from jinja2.sandbox import ImmutableSandboxedEnvironment, safe_range
from jinja2.utils import Cycler, Joiner, Namespace

from shared.language import render_size_checks as checks
from shared.language.filter_budget import budgeted_filter, budgeted_iteration
from shared.language.render_state import CALL_UNITS, TEMPLATE_CALL_UNITS, active_state, printed_size
from shared.language.template_analysis import NONDETERMINISTIC_FILTERS, TemplateCategory
from shared.language.template_field_views import ShapedContent, UndeclaredField, shaped_value
from shared.language.template_filters import TagStyle, category_filters
from shared.language.template_reads import is_private_name
from shared.language.template_stuff import TemplateStuff, TextFormat, render_value

# Not an identifier, so no template can name it: the filter every `{% for %}` iterable goes through.
ITERATION_FILTER: Final = "budgeted-iteration"

_METHODS: Final[dict[type, frozenset[str]]] = {
    str: frozenset(
        {
            "capitalize", "casefold", "center", "count", "endswith", "expandtabs", "find", "index", "isalnum",
            "isalpha", "isascii", "isdecimal", "isdigit", "isidentifier", "islower", "isnumeric", "isprintable",
            "isspace", "istitle", "isupper", "join", "ljust", "lower", "lstrip", "partition", "removeprefix",
            "removesuffix", "replace", "rfind", "rindex", "rjust", "rpartition", "rsplit", "rstrip", "split",
            "splitlines", "startswith", "strip", "swapcase", "title", "upper", "zfill",
        }
    ),
    list: frozenset({"count", "index"}),
    tuple: frozenset({"count", "index"}),
    dict: frozenset({"get", "items", "keys", "values"}),
    int: frozenset({"bit_length"}),
    float: frozenset({"is_integer"}),
    LoopContext: frozenset({"cycle", "changed"}),
    Cycler: frozenset({"next", "reset"}),
}  # fmt: skip
_RUNTIME_CALLABLE_TYPES: Final = (Macro, LoopContext, BlockReference, Joiner, Undefined)
_GLOBAL_CALLABLES: Final = (safe_range, dict, Cycler, Joiner, Namespace)


class PresenceProbingStrictUndefined(StrictUndefined):
    """Strict undefined that is false when tested: `{% if x %}` guards an absent optional (PipeDocGen)."""

    def __bool__(self) -> bool:
        return False


class _CheckedFormat:
    """`str.format` / `str.format_map` as the sandbox wraps it, with the result's size checked first."""

    def __init__(self, wrapped: Callable[..., str], template: str, *, is_map: bool) -> None:
        self._wrapped, self._template, self._is_map = wrapped, template, is_map

    def __call__(self, *args: Any, **kwargs: Any) -> str:
        named = cast("Mapping[str, Any]", args[0]) if self._is_map and args else kwargs
        checks.check_str_format(active_state(), self._template, () if self._is_map else args, named)
        return self._wrapped(*args, **kwargs)


class _BudgetedCodeGenerator(CodeGenerator):
    """Jinja's code generator, charging literal output and checking `~` before it joins."""

    def visit_Output(self, node: nodes.Output, frame: Frame) -> None:
        literal = sum(len(child.data) for child in node.nodes if isinstance(child, nodes.TemplateData))
        if literal:
            self.writeline(f"environment.charge_literal({literal})")
        super().visit_Output(node, frame)

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        if frame.eval_ctx.volatile:
            join = "(markup_join if context.eval_ctx.volatile else str_join)"
        else:
            join = "markup_join" if frame.eval_ctx.autoescape else "str_join"
        self.write(f"environment.checked_concat({join}, (")
        for part in node.nodes:
            self.visit(part, frame)
            self.write(", ")
        self.write("))")


def _printed(value: Any) -> Any:
    """Finalize: what `{{ value }}` prints, refused when too large to print."""
    state = active_state()
    state.check_size(printed_size(value, state.max_output_chars), "a printed value")
    if isinstance(value, TemplateStuff):
        return str(value)
    return render_value(value, TextFormat.PLAIN) if isinstance(value, Mapping) else value


def _method_owner(obj: Any) -> tuple[type, str] | None:
    if not isinstance(obj, types.BuiltinMethodType | types.MethodType):
        return None
    owner = cast("object", getattr(obj, "__self__", None))
    plain = next((kind for kind in _METHODS if isinstance(owner, kind) and not isinstance(owner, type)), None)
    return None if plain is None else (plain, obj.__name__)


class TemplateSandbox(ImmutableSandboxedEnvironment):
    """The environment of one category, strictness and templating style.

    A template reads content fields and the four stuff metadata names, never another `_name`; a field the
    stuff's concept does not declare reads as a strict undefined (`template_field_views`); it calls Jinja's
    runtime (macros, `loop`, `cycler`, `joiner`, `namespace`, `range`, `dict`) and listed `str`/`list`/`dict`/
    number methods, nothing else; what it builds is checked against the active render budget (`render_state`).
    """

    code_generator_class = _BudgetedCodeGenerator
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(
        self, category: TemplateCategory, *, strict: bool, tag_style: TagStyle, text_format: TextFormat
    ) -> None:
        trims = category in {TemplateCategory.HTML, TemplateCategory.MARKDOWN}
        super().__init__(
            autoescape=category is TemplateCategory.HTML,
            trim_blocks=trims,
            lstrip_blocks=trims,
            undefined=PresenceProbingStrictUndefined if strict else Undefined,
            finalize=_printed,
        )
        builtins = {name: fn for name, fn in self.filters.items() if name not in NONDETERMINISTIC_FILTERS}
        self.filters = {name: budgeted_filter(name, fn, builtin=True) for name, fn in builtins.items()}
        for name, fn in category_filters(category, tag_style, text_format).items():
            self.filters[name] = budgeted_filter(name, fn, builtin=False)
        self.filters[ITERATION_FILTER] = budgeted_iteration
        del self.globals["lipsum"]

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        for loop in tree.find_all(nodes.For):
            loop.iter = nodes.Filter(loop.iter, ITERATION_FILTER, [], [], None, None, lineno=loop.iter.lineno)
        return tree

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        checks.check_binop(active_state(), operator, left, right)
        return super().call_binop(context, operator, left, right)

    def charge_literal(self, length: int) -> None:
        active_state().charge(length)

    def checked_concat(self, join: Callable[[Sequence[Any]], str], parts: Sequence[Any]) -> str:
        state = active_state()
        state.check_size(sum(printed_size(part, state.max_output_chars) for part in parts), "a concatenation")
        return join(parts)

    def unsafe_undefined(self, obj: Any, attribute: str) -> NoReturn:
        msg = f"a template may not read '{attribute}' on a {type(obj).__name__} value"
        raise SecurityError(msg)

    def _stuff_read(self, stuff: TemplateStuff, key: str) -> Any:
        shape = None if stuff.is_list else stuff.shape
        try:
            value = stuff.read(key)
        except KeyError:
            if shape is not None and not shape.has(key):
                return UndeclaredField(shape, key, stuff)
            return self.undefined(obj=stuff, name=key)
        return value if shape is None or not shape.has(key) else shaped_value(shape, key, value)

    def _shaped_read(self, content: ShapedContent, key: str) -> Any:
        if key in content:
            return shaped_value(content.shape, key, content[key])
        if content.shape.has(key):
            return self.undefined(obj=content, name=key)
        if key in _METHODS[dict]:
            return super().getattr(content, key)  # nested contents are dicts: `.items()` works as before
        return UndeclaredField(content.shape, key, content)

    def getattr(self, obj: Any, attribute: str) -> Any:
        if is_private_name(attribute):
            self.unsafe_undefined(obj, attribute)
        if isinstance(obj, TemplateStuff):
            return self._stuff_read(obj, attribute)
        if isinstance(obj, ShapedContent):
            return self._shaped_read(obj, attribute)
        if isinstance(obj, dict) and attribute in obj:
            # A content field wins over a dict method of the same name (`items`, `keys`, `values`).
            return cast("dict[str, Any]", obj)[attribute]
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        if isinstance(argument, str) and is_private_name(argument):
            self.unsafe_undefined(obj, argument)
        if isinstance(obj, ShapedContent) and isinstance(argument, str):
            return self._shaped_read(obj, argument)
        if not isinstance(obj, TemplateStuff):
            return super().getitem(obj, argument)
        if isinstance(argument, str):
            return self._stuff_read(obj, argument)
        if obj.is_list and isinstance(argument, int | slice):
            try:
                return obj.item_views()[cast("int | slice[Any, Any, Any]", argument)]
            except IndexError:
                pass
        return self.undefined(obj=obj, name=str(cast("object", argument)))

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        return _CheckedFormat(wrapped, cast("str", value.__self__), is_map=value.__name__ == "format_map")

    def is_safe_callable(self, obj: Any) -> bool:
        if not super().is_safe_callable(obj):
            return False
        if isinstance(obj, (*_RUNTIME_CALLABLE_TYPES, _CheckedFormat)):
            return True
        if any(obj is allowed for allowed in _GLOBAL_CALLABLES):
            return True
        owner = _method_owner(obj)
        return owner is not None and owner[1] in _METHODS[owner[0]]

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        state = active_state()
        # Calling template code (a macro, a recursive loop, a block) runs a whole body: it costs far more.
        state.charge(
            TEMPLATE_CALL_UNITS if isinstance(obj, Macro | LoopContext | BlockReference) else CALL_UNITS
        )
        if not self.is_safe_callable(obj):
            msg = f"a template may not call {getattr(obj, '__name__', type(obj).__name__)}"
            raise SecurityError(msg)
        if isinstance(obj, LoopContext) and args:
            # A recursive loop's `loop(children)` iterates outside the `{% for %}` the parse rewrote.
            args = (budgeted_iteration(args[0]), *args[1:])
        owner = _method_owner(obj)
        if owner is not None and owner[0] is str:
            args = _checked_str_call(cast("str", getattr(obj, "__self__", "")), owner[1], args, kwargs)
        result = super().call(context, obj, *args, **kwargs)
        if isinstance(result, str):
            state.check_size(len(result), "the result of a call")
        return result


def _checked_str_call(
    text: str, method: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]
) -> tuple[Any, ...]:
    """Check what a string method is about to build; return its arguments (a joined iterable materialized)."""
    state = active_state()
    first = args[0] if args else None
    if method in {"center", "ljust", "rjust", "zfill"}:
        checks.check_padding(state, text, first)
    elif method == "expandtabs":
        tabsize = first if first is not None else kwargs.get("tabsize", 8)
        checks.check_indent(state, text.replace("\t", "\n"), tabsize)
    elif method == "replace" and len(args) >= 2:
        checks.check_replace(
            state, text, str(args[0]), str(args[1]), args[2] if len(args) > 2 else kwargs.get("count")
        )
    elif method == "join" and args:
        items = checks.materialized(first)
        checks.check_join(state, text, items)
        return (items, *args[1:])
    return args
