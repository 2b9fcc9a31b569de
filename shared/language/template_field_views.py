"""Reading a field of stuff contents at render time, when the concept's fields are known. Pure.

A field the concept declares reads as today (an absent optional one is `None`, printing as its value
does). A field it does not declare reads as `UndeclaredField`, a strict undefined: printing, testing,
iterating or comparing it fails the render naming the field, while presence probes (`is defined`,
`| default(...)`) still work. Nested contents of a declared concept are handed out as `ShapedContent`, a
plain dict that also knows its shape, so `{{ a.b.c }}` is judged at every level.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NoReturn, cast

from jinja2 import StrictUndefined, Undefined, UndefinedError

from shared.language.template_shapes import FieldShape


class UndeclaredFieldError(UndefinedError):
    """A template used a field its holder's concept does not declare."""

    def __init__(self, message: str, field: str, concept: str) -> None:
        super().__init__(message)
        self.field = field
        self.concept = concept


class UndeclaredField(StrictUndefined):
    """The value of a read of an undeclared field: any use but a presence probe fails the render."""

    __slots__ = ("_concept",)

    def __init__(self, shape: FieldShape, name: str, obj: Any) -> None:
        super().__init__(hint=shape.describe_missing(name), obj=obj, name=name)
        self._concept = shape.concept

    def _fail_with_undefined_error(self, *args: object, **kwargs: object) -> NoReturn:  # noqa: ARG002 -- Jinja's signature: operators pass their operands
        raise UndeclaredFieldError(self._undefined_message, self._undefined_name or "", self._concept)


# Jinja binds every failing operator of `Undefined` / `StrictUndefined` (`__str__`, `__bool__`, `__add__`,
# ...) to the base `_fail_with_undefined_error` function itself: rebind each to ours, so they all name the field.
_BASE_FAIL = vars(Undefined)["_fail_with_undefined_error"]
for _operator, _bound in [*vars(Undefined).items(), *vars(StrictUndefined).items()]:
    if _bound is _BASE_FAIL and _operator != "_fail_with_undefined_error":
        setattr(UndeclaredField, _operator, vars(UndeclaredField)["_fail_with_undefined_error"])


class ShapedContent(dict[str, Any]):
    """Nested contents of a concept whose fields are known: a dict to everything but the field checks."""

    __slots__ = ("shape",)

    def __init__(self, content: Mapping[str, Any], shape: FieldShape) -> None:
        super().__init__(content)
        self.shape = shape


def shaped_value(shape: FieldShape, name: str, value: Any) -> Any:
    """`value`, read from field `name` of contents of `shape`, shaped itself when it holds concept contents."""
    child = shape.child(name)
    if child is None:
        return value
    child_shape, is_list = child
    if is_list and isinstance(value, list):
        items = cast("list[Any]", value)
        return [_shaped(item, child_shape) for item in items]
    return _shaped(value, child_shape)


def _shaped(value: Any, shape: FieldShape) -> Any:
    if isinstance(value, Mapping) and not isinstance(value, ShapedContent):
        return ShapedContent(cast("Mapping[str, Any]", value), shape)
    return value
