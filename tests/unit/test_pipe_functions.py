"""PipeFunc end to end (mthds.md §2.10): the registry, validation against it, real runs, typed failures."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from shared.language.issues import ErrorType
from shared.language.model_deck import builtin_deck
from shared.language.report import BundleSource, ValidationReport
from shared.language.validator import validate_sources
from shared.runtime.function_registry import (
    DEFAULT_REGISTRY,
    FunctionRegistry,
    FunctionRegistryError,
    PipeFunction,
    load_entry_points,
    pipe_function,
)
from shared.runtime.run_failure import PipeRunError
from shared.runtime.run_pipeline import RunOutcome, RunRequest, run_pipeline
from shared.runtime.stuff import Stuff
from shared.storage.blob_store import LocalBlobStore
from tests.helpers.methods import library_of
from worker.in_process import MethodInvalid, run_sources
from worker.operators.local import LocalOperatorExecutor

FUNCTION = "billing.functions.bill"

BILLING = f"""
domain = "billing"
description = "Invoices from orders"
main_pipe = "bill"

[concept.Order]
description = "An order"

[concept.Order.structure]
item = {{ type = "text", description = "Item", required = true }}
quantity = {{ type = "integer", description = "Quantity", required = true }}
unit_price = {{ type = "number", description = "Unit price", required = true }}

[concept.Invoice]
description = "An invoice"

[concept.Invoice.structure]
item = {{ type = "text", description = "Item", required = true }}
total = {{ type = "number", description = "Total", required = true }}

[pipe.bill]
type = "PipeFunc"
description = "Bills an order"
inputs = {{ order = "Order" }}
output = "Invoice"
function_name = "{FUNCTION}"
"""

BILLING_LINES = BILLING.replace('output = "Invoice"', 'output = "Invoice[]"')

ORDER = {"item": "pen", "quantity": 3, "unit_price": 1.5}
INVOICE = {"item": "PEN", "total": 4.5}

DEMO_MODULE = "mf_demo_functions"
DEMO_FUNCTION = "demo.functions.shout"
TRAP_MODULE = "mf_trap_functions"


class Invoice(BaseModel):
    item: str
    total: float


def bill(working_memory: Mapping[str, Stuff]) -> dict[str, Any]:
    order = working_memory["order"].content
    return {"item": order["item"].upper(), "total": order["quantity"] * order["unit_price"]}


def with_function(text: str, name: str) -> str:
    return text.replace(f'function_name = "{FUNCTION}"', f'function_name = "{name}"')


def sources_of(text: str) -> list[BundleSource]:
    return [BundleSource(path="billing.mthds", text=text)]


def registry_with(function: PipeFunction, name: str = FUNCTION) -> FunctionRegistry:
    registry = FunctionRegistry()
    registry.register(name, function)
    return registry


def report_of(text: str, registry: FunctionRegistry) -> ValidationReport:
    return validate_sources(sources_of(text), builtin_deck(), functions=registry.names())


async def run_billing(
    registry: FunctionRegistry, storage_root: Path, text: str = BILLING, *, dry_run: bool = False
) -> RunOutcome:
    return await run_sources(
        sources_of(text),
        RunRequest("", {"order": ORDER}),
        storage_root=storage_root,
        functions=registry,
        dry_run=dry_run,
    )


async def failure_of(function: PipeFunction, storage_root: Path, text: str = BILLING) -> PipeRunError:
    with pytest.raises(PipeRunError) as caught:
        await run_billing(registry_with(function), storage_root, text)
    return caught.value


@pytest.fixture
def on_sys_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """`tmp_path` importable for one test; the modules imported from it are forgotten afterwards.

    Popped here rather than with `monkeypatch.delitem`: before the import there is nothing to record,
    and after it monkeypatch's undo would put the module back into `sys.modules`.
    """
    # pytest leaves `path` unannotated in `syspath_prepend`.
    monkeypatch.syspath_prepend(tmp_path)  # pyright: ignore[reportUnknownMemberType]
    yield tmp_path
    for module in (DEMO_MODULE, TRAP_MODULE):
        sys.modules.pop(module, None)


# 1. Registered functions compute the output from the inputs.


async def test_a_sync_function_computes_the_output_from_its_inputs(tmp_path: Path) -> None:
    outcome = await run_billing(registry_with(bill), tmp_path)
    assert outcome.pipe_ref == "billing.bill"
    assert outcome.main_json() == INVOICE
    assert isinstance(outcome.main, Stuff)
    assert outcome.main.concept == "billing.Invoice"
    assert not outcome.main.is_list
    assert outcome.memory.wire()["root"]["order"]["content"] == ORDER


async def test_a_function_may_return_a_pydantic_model(tmp_path: Path) -> None:
    def bill_model(working_memory: Mapping[str, Stuff]) -> Invoice:
        order = working_memory["order"].content
        return Invoice(item=order["item"].upper(), total=order["quantity"] * order["unit_price"])

    outcome = await run_billing(registry_with(bill_model), tmp_path)
    assert outcome.main_json() == INVOICE


async def test_an_async_function_is_awaited(tmp_path: Path) -> None:
    async def bill_later(working_memory: Mapping[str, Stuff]) -> dict[str, Any]:
        return bill(working_memory)

    outcome = await run_billing(registry_with(bill_later), tmp_path)
    assert outcome.main_json() == INVOICE


async def test_a_returned_list_becomes_a_list_output(tmp_path: Path) -> None:
    def bill_lines(working_memory: Mapping[str, Stuff]) -> list[Any]:
        order = working_memory["order"].content
        return [
            {"item": order["item"], "total": order["unit_price"] * order["quantity"]},
            Invoice(item="shipping", total=2),
        ]

    outcome = await run_billing(registry_with(bill_lines), tmp_path, BILLING_LINES)
    assert outcome.main_json() == {
        "items": [{"item": "pen", "total": 4.5}, {"item": "shipping", "total": 2.0}]
    }
    assert isinstance(outcome.main, Stuff)
    assert outcome.main.is_list
    assert outcome.main.concept == "billing.Invoice"


# 2. Validation looks names up in the registry; a dry run never calls the function.


def test_an_unregistered_function_makes_the_bundle_invalid() -> None:
    report = report_of(BILLING, registry_with(bill, "billing.functions.other"))
    assert not report.is_valid
    [issue] = report.issues
    assert issue.error_type is ErrorType.PIPE_FUNC_FUNCTION_REFUSED
    assert issue.error_type.value == "pipe_func_function_refused"
    assert issue.problem_code == "method.function_invalid"
    assert issue.pipe == "bill"
    assert issue.params == {"function": FUNCTION}
    assert FUNCTION in issue.message


def test_a_registered_function_makes_the_bundle_valid() -> None:
    report = report_of(BILLING, registry_with(bill))
    assert report.is_valid, [issue.message for issue in report.issues]
    assert report.default_pipe_ref == "billing.bill"


async def test_running_an_unregistered_function_is_refused_before_the_run(tmp_path: Path) -> None:
    with pytest.raises(MethodInvalid) as caught:
        await run_billing(FunctionRegistry(), tmp_path)
    assert [issue.error_type for issue in caught.value.report.issues] == [
        ErrorType.PIPE_FUNC_FUNCTION_REFUSED
    ]


async def test_a_function_missing_at_run_time_fails_typed(tmp_path: Path) -> None:
    # Validated against one set of names, run with a registry that lost the function.
    library = library_of(BILLING, functions=frozenset({FUNCTION}))
    executor = LocalOperatorExecutor(
        library, LocalBlobStore(tmp_path), run_key="missing", functions=FunctionRegistry()
    )
    with pytest.raises(PipeRunError) as caught:
        await run_pipeline(library, RunRequest("billing.bill", {"order": ORDER}), executor)
    assert caught.value.code == "method.function_invalid"
    assert caught.value.pipe == "bill"
    assert caught.value.params == {"function": FUNCTION}


async def test_a_dry_run_mocks_the_output_without_calling_the_function(tmp_path: Path) -> None:
    calls: list[Mapping[str, Stuff]] = []

    def counted(working_memory: Mapping[str, Stuff]) -> dict[str, Any]:
        calls.append(working_memory)
        return bill(working_memory)

    outcome = await run_billing(registry_with(counted), tmp_path, dry_run=True)
    assert calls == []
    assert isinstance(outcome.main, Stuff)
    assert outcome.main.concept == "billing.Invoice"
    content = outcome.main_json()
    assert set(content) == {"item", "total"}
    assert isinstance(content["item"], str)
    assert isinstance(content["total"], int | float)
    assert content != INVOICE


# 3. Failures are typed and name the pipe.


async def test_a_raising_function_fails_typed_naming_the_pipe_and_the_function(tmp_path: Path) -> None:
    def refuse(working_memory: Mapping[str, Stuff]) -> dict[str, Any]:
        msg = f"no price for {working_memory['order'].content['item']}"
        raise ValueError(msg)

    failure = await failure_of(refuse, tmp_path)
    assert failure.code == "pipe.function_failed"
    assert failure.pipe == "bill"
    assert FUNCTION in failure.message
    assert "ValueError" in failure.message
    assert "no price for pen" in failure.message
    assert failure.params == {"function": FUNCTION}
    assert not failure.retryable
    assert failure.problem()["location"] == {"pipe": "bill"}
    assert isinstance(failure.__cause__, ValueError)  # the user's exception stays the cause


async def test_an_async_function_that_raises_fails_typed(tmp_path: Path) -> None:
    async def refuse_later(working_memory: Mapping[str, Stuff]) -> dict[str, Any]:
        raise KeyError(working_memory["order"].content["item"])

    failure = await failure_of(refuse_later, tmp_path)
    assert failure.code == "pipe.function_failed"
    assert failure.pipe == "bill"
    assert "KeyError" in failure.message


@pytest.mark.parametrize(
    ("returned", "field"),
    [
        ({"item": "pen"}, "total"),
        ({"item": "pen", "total": "a lot"}, "total"),
        ({"item": "pen", "total": 4.5, "discount": 1}, "discount"),
    ],
)
async def test_content_that_does_not_fit_the_output_concept_is_refused(
    tmp_path: Path, returned: dict[str, Any], field: str
) -> None:
    def misfit(working_memory: Mapping[str, Stuff]) -> dict[str, Any]:
        assert "order" in working_memory
        return returned

    failure = await failure_of(misfit, tmp_path)
    assert failure.code == "pipe.output_invalid"
    assert failure.pipe == "bill"
    assert failure.params["fields"] == [field]


@pytest.mark.parametrize("returned", ["an invoice", None, [dict(INVOICE)]])
async def test_a_non_object_for_a_single_output_is_refused(tmp_path: Path, returned: Any) -> None:
    def misfit(working_memory: Mapping[str, Stuff]) -> Any:
        assert "order" in working_memory
        return returned

    failure = await failure_of(misfit, tmp_path)
    assert failure.code == "pipe.output_invalid"
    assert failure.pipe == "bill"


@pytest.mark.parametrize("returned", [dict(INVOICE), (dict(INVOICE),), Invoice(item="PEN", total=4.5)])
async def test_a_non_list_for_a_list_output_is_refused(tmp_path: Path, returned: Any) -> None:
    def not_a_list(working_memory: Mapping[str, Stuff]) -> Any:
        assert "order" in working_memory
        return returned

    failure = await failure_of(not_a_list, tmp_path, BILLING_LINES)
    assert failure.code == "pipe.output_invalid"
    assert failure.pipe == "bill"
    assert FUNCTION in failure.message
    assert "billing.Invoice[]" in failure.message


async def test_a_list_item_that_does_not_fit_is_refused(tmp_path: Path) -> None:
    def bad_line(working_memory: Mapping[str, Stuff]) -> list[dict[str, Any]]:
        return [bill(working_memory), {"item": "shipping"}]

    failure = await failure_of(bad_line, tmp_path, BILLING_LINES)
    assert failure.code == "pipe.output_invalid"
    assert failure.pipe == "bill"


# 4. Registry rules.


@pytest.mark.parametrize(
    "name", ["bill", "", "billing.", ".bill", "billing..bill", "billing.functions.1bill", "billing.a b"]
)
def test_a_name_that_is_not_a_dotted_path_is_refused(name: str) -> None:
    registry = FunctionRegistry()
    with pytest.raises(FunctionRegistryError, match="dotted path"):
        registry.register(name, bill)
    assert registry.names() == frozenset()


def test_one_name_cannot_hold_two_functions() -> None:
    def other(working_memory: Mapping[str, Stuff]) -> dict[str, Any]:
        return bill(working_memory)

    registry = registry_with(bill)
    with pytest.raises(FunctionRegistryError, match="already registered"):
        registry.register(FUNCTION, other)
    assert registry.get(FUNCTION) is bill


def test_registering_the_same_function_again_is_harmless() -> None:
    registry = registry_with(bill)
    registry.register(FUNCTION, bill)
    assert registry.names() == frozenset({FUNCTION})
    assert registry.get(FUNCTION) is bill


def test_a_function_must_take_exactly_one_parameter() -> None:
    def two(working_memory: Mapping[str, Stuff], extra: int) -> int:
        return len(working_memory) + extra

    def none() -> int:
        return 0

    registry = FunctionRegistry()
    with pytest.raises(FunctionRegistryError, match="exactly one parameter"):
        registry.register("billing.functions.two", two)  # pyright: ignore[reportArgumentType]
    with pytest.raises(FunctionRegistryError, match="exactly one parameter"):
        registry.register("billing.functions.none", none)  # pyright: ignore[reportArgumentType]
    assert registry.names() == frozenset()
    assert registry.get("billing.functions.two") is None


def test_the_decorator_names_a_function_after_its_module_and_qualname() -> None:
    registry = FunctionRegistry()
    decorated = pipe_function(registry=registry)(bill)
    assert decorated is bill
    assert registry.names() == frozenset({f"{__name__}.bill"})
    assert registry.names() == frozenset({"tests.unit.test_pipe_functions.bill"})
    assert registry.get(f"{__name__}.bill") is bill
    assert f"{__name__}.bill" not in DEFAULT_REGISTRY.names()


def test_the_decorator_takes_an_explicit_name() -> None:
    registry = FunctionRegistry()

    @pipe_function(FUNCTION, registry=registry)
    def billed(working_memory: Mapping[str, Stuff]) -> dict[str, Any]:
        return bill(working_memory)

    assert registry.get(FUNCTION) is billed
    assert FUNCTION not in DEFAULT_REGISTRY.names()


def test_the_default_name_of_a_nested_function_is_refused() -> None:
    # `<locals>` is no identifier: only top-level functions get a usable default name (§2.10).
    registry = FunctionRegistry()
    decorate: Callable[[PipeFunction], PipeFunction] = pipe_function(registry=registry)

    def nested(working_memory: Mapping[str, Stuff]) -> dict[str, Any]:
        return bill(working_memory)

    with pytest.raises(FunctionRegistryError, match="<locals>"):
        decorate(nested)


# 5. Entry points of an installed distribution.


def write_demo_distribution(root: Path) -> None:
    (root / f"{DEMO_MODULE}.py").write_text(
        "def shout(working_memory):\n"
        '    order = working_memory["order"].content\n'
        '    return {"item": order["item"].upper() + "!", "total": order["quantity"]}\n'
    )
    dist_info = root / "mf_demo-0.1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: mf-demo\nVersion: 0.1\n")
    (dist_info / "entry_points.txt").write_text(
        f"[methodflow.functions]\n{DEMO_FUNCTION} = {DEMO_MODULE}:shout\n"
    )


async def test_entry_points_register_functions_of_installed_packages(on_sys_path: Path) -> None:
    write_demo_distribution(on_sys_path)
    registry = FunctionRegistry()
    loaded = load_entry_points(registry)
    assert DEMO_FUNCTION in loaded
    assert DEMO_FUNCTION in registry.names()
    assert DEMO_FUNCTION not in DEFAULT_REGISTRY.names()
    # Loading again (a second start-up in the same process) finds the very same functions.
    assert DEMO_FUNCTION in load_entry_points(registry)

    outcome = await run_billing(registry, on_sys_path / "store", with_function(BILLING, DEMO_FUNCTION))
    assert outcome.main_json() == {"item": "PEN!", "total": 3.0}


def test_entry_points_of_another_group_are_not_loaded(on_sys_path: Path) -> None:
    write_demo_distribution(on_sys_path)
    registry = FunctionRegistry()
    assert load_entry_points(registry, group="methodflow.elsewhere") == []
    assert registry.names() == frozenset()
    assert DEMO_MODULE not in sys.modules


# 6. A name is looked up, never imported.


@pytest.mark.parametrize("name", ["os.system", f"{TRAP_MODULE}.fire"])
async def test_an_importable_path_is_refused_without_being_imported(on_sys_path: Path, name: str) -> None:
    marker = on_sys_path / "imported"
    (on_sys_path / f"{TRAP_MODULE}.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).touch()\n\ndef fire(working_memory):\n    return None\n"
    )
    text = with_function(BILLING, name)
    registry = registry_with(bill)

    [issue] = report_of(text, registry).issues
    assert issue.error_type is ErrorType.PIPE_FUNC_FUNCTION_REFUSED
    assert issue.params == {"function": name}
    with pytest.raises(MethodInvalid):
        await run_billing(registry, on_sys_path / "store", text)
    assert TRAP_MODULE not in sys.modules
    assert not marker.exists()


async def test_a_function_cannot_change_the_stored_inputs(tmp_path: Path) -> None:
    registry = FunctionRegistry()

    def vandal(working_memory: Mapping[str, Stuff]) -> dict[str, Any]:
        content = working_memory["order"].content
        content["item"] = "HACKED"
        return {"item": "PEN", "total": 1.0}

    registry.register("billing.functions.bill", vandal)
    outcome = await run_sources(
        [BundleSource(path="bundle.mthds", text=BILLING)],
        RunRequest("", {"order": ORDER}),
        storage_root=tmp_path,
        functions=registry,
    )
    assert outcome.memory.wire()["root"]["order"]["content"]["item"] == ORDER["item"]
