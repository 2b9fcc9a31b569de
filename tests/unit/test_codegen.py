"""Generated types (`shared/tooling/codegen_*.py`): the Python modules of every valid corpus entry compile,
import and validate an example of each concept; names, field types, defaults, stamps and lock as documented.

The TypeScript output is compiled with `tsc` in `tests/integration/test_crate_tools_routes.py`.
"""

from __future__ import annotations

import datetime
import hashlib
import importlib.util
import inspect
import sys
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

import pytest
from pydantic import BaseModel, ValidationError

from shared.language.content_schema import concept_json_schema
from shared.language.library import Library
from shared.language.model_deck import builtin_deck
from shared.language.report import BundleSource, ValidationReport
from shared.language.validator import validate_sources
from shared.runtime.schema_mocks import mock_from_schema
from shared.tooling.codegen_python import python_class_names, python_pydantic, python_structures
from shared.tooling.codegen_stamp import LOCK_FILENAME, Artifact, content_hash, stamped
from shared.tooling.codegen_ts import ts_type_names, ts_zod
from shared.tooling.crate_json import resolved_crate
from tests.helpers.crate_bundles import SHOP_SOURCES, TRICKY_SOURCES, valid_corpus_entries

ImportModule = Callable[[Artifact, str], ModuleType]
STAMP_KEYS = ["crate_fingerprint", "engine_version", "projection", "options", "content_hash"]


@pytest.fixture(scope="module")
def corpus_reports() -> list[tuple[str, ValidationReport]]:
    deck = builtin_deck()
    return [(entry.name, validate_sources(entry.bundles, deck)) for entry in valid_corpus_entries()]


@pytest.fixture
def import_module(tmp_path: Path) -> Iterator[ImportModule]:
    """Imports an artifact written under `tmp_path` as a fresh module; forgets every such module after."""
    imported: list[str] = []

    def load(artifact: Artifact, label: str) -> ModuleType:
        path = tmp_path / label / artifact.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(artifact.content, encoding="utf-8")
        name = f"codegen_{label}_{path.stem}"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # pydantic resolves postponed annotations through it
        imported.append(name)
        spec.loader.exec_module(module)
        return module

    yield load
    for name in imported:
        sys.modules.pop(name, None)


def _report(sources: tuple[BundleSource, ...]) -> ValidationReport:
    report = validate_sources(sources, builtin_deck())
    assert report.is_valid, [issue.message for issue in report.issues]
    return report


def _example(library: Library | None, ref: str) -> Any:
    """A mock content of `ref` from its JSON Schema; any object for the concepts without fields."""
    assert library is not None
    schema = concept_json_schema(library, ref)
    return mock_from_schema(schema, seed=ref) if schema.get("properties") else {"anything": [1, "two"]}


def _model(module: ModuleType, name: str) -> type[BaseModel]:
    model = getattr(module, name)
    assert isinstance(model, type)
    assert issubclass(model, BaseModel)
    return model


def test_every_valid_entry_gives_models_that_import_and_validate_each_concept(
    corpus_reports: list[tuple[str, ValidationReport]], import_module: ImportModule
) -> None:
    checked = 0
    for name, report in corpus_reports:
        crate = resolved_crate(report)
        [artifact] = python_pydantic(crate)
        assert artifact.path == "models.py"
        compile(artifact.content, artifact.path, "exec")
        module = import_module(artifact, name)
        names = python_class_names(crate)
        for ref, concept in crate["concepts"].items():
            model = _model(module, names[ref])
            model.model_validate(_example(report.library, ref))
            fields: dict[str, Any] = concept.get("structure") or {}
            for field_name, field in fields.items():
                assert model.model_fields[field_name].description == field["description"], (name, ref)
            checked += 1
    assert checked >= 100


def test_every_valid_entry_gives_structures_of_its_own_concepts(
    corpus_reports: list[tuple[str, ValidationReport]], import_module: ImportModule
) -> None:
    for name, report in corpus_reports:
        crate = resolved_crate(report)
        [artifact] = python_structures(crate)
        assert artifact.path == "structures.py"
        module = import_module(artifact, name)
        own = [ref for ref in crate["concepts"] if not ref.startswith("native.")]
        if not own:
            assert not any(isinstance(value, type) for value in vars(module).values()), name
            continue
        base = _model(module, "StructuredContent")
        names = python_class_names(crate)
        for ref in own:
            model = _model(module, names[ref])
            assert issubclass(model, base), (name, ref)
            model.model_validate(_example(report.library, ref))


def test_field_types_defaults_and_presence_follow_the_structure(import_module: ImportModule) -> None:
    module = import_module(python_pydantic(resolved_crate(_report(SHOP_SOURCES)))[0], "shop")
    order, item, customer = _model(module, "Order"), _model(module, "shop__Item"), _model(module, "Customer")
    fields = order.model_fields
    assert fields["reference"].annotation is str
    assert fields["reference"].is_required()
    assert fields["placed_on"].annotation is datetime.date
    assert fields["placed_at"].annotation == datetime.datetime | None
    assert fields["pickup"].annotation == datetime.time | None
    assert fields["paid"].annotation is bool
    assert fields["paid"].default is False
    assert fields["status"].annotation == Literal["open", "shipped", "closed"]
    assert fields["status"].default == "open"
    assert fields["channel"].annotation == Literal["web", "store"]
    assert fields["items"].annotation == list[item]
    assert fields["spares"].annotation == list[item] | None
    assert fields["tags"].annotation == list[str] | None
    assert fields["extras"].annotation == dict[str, float] | None
    assert fields["buyer"].annotation is customer
    assert fields["scores"].annotation == list[float] | None
    assert item.model_fields["quantity"].default == 1
    assert _model(module, "BigOrder").model_fields.keys() == fields.keys()
    assert issubclass(_model(module, "Summary"), _model(module, "Text"))
    assert inspect.getdoc(order) == 'An order, with "quotes" and \\ in its description'
    minimal: dict[str, Any] = {
        "reference": "r",
        "placed_on": "2026-01-01",
        "channel": "web",
        "items": [],
        "buyer": {"name": "n"},
    }
    parsed = order.model_validate(minimal).model_dump()
    assert (parsed["status"], parsed["paid"], parsed["note"], parsed["tags"]) == ("open", False, None, None)
    with pytest.raises(ValidationError):
        order.model_validate(minimal | {"channel": "phone"})
    with pytest.raises(ValidationError):
        order.model_validate({key: value for key, value in minimal.items() if key != "buyer"})
    note = _model(module, "Note").model_validate({"text": "kept", "more": 1})
    assert note.model_dump() == {"text": "kept", "more": 1}, "a concept without fields keeps what it is sent"


def test_names_that_collide_or_shadow_are_spelled_apart(import_module: ImportModule) -> None:
    report = _report(TRICKY_SOURCES)
    crate = resolved_crate(report)
    names = python_class_names(crate)
    assert names["trees.forest.Field"] == "Field2"
    assert names["trees.forest.BaseModel"] == "BaseModel2"
    assert names["trees.forest.Node"] == "trees_forest__Node"
    assert names["trees_forest.Node"] == "trees_forest__Node2"
    assert ts_type_names(crate)["trees.forest.Node"] == "TreesForestNode"
    assert ts_type_names(crate)["trees_forest.Node"] == "TreesForestNode2"
    for generate in (python_pydantic, python_structures):
        module = import_module(generate(crate)[0], f"tricky_{generate.__name__}")
        node = _model(module, names["trees.forest.Node"])
        parsed = node.model_validate(
            {"label": "l", "time": "09:30:00", "str": 3, "Field": "f", "Leaf": {"weight": 2.5}}
        )
        assert parsed.model_dump()["date"] == datetime.date(2024, 1, 2)
        assert parsed.model_dump()["time"] == datetime.time(9, 30)
        assert parsed.model_dump()["Leaf"] == {"weight": 2.5}
        assert parsed.model_dump()["ratios"] == {"a": 1.5}
        assert inspect.getdoc(node) == 'A node.\nIt holds """quotes""" and ends with one: "'
        for ref in crate["concepts"]:
            if names[ref] in vars(module):
                _model(module, names[ref]).model_validate(_example(report.library, ref))


def test_every_artifact_carries_a_stamp_over_its_body_and_the_lock_lists_them() -> None:
    crate = resolved_crate(_report(SHOP_SOURCES))
    for target, generate in (("python-pydantic", python_pydantic), ("ts-zod", ts_zod)):
        bodies = generate(crate)
        projection = stamped(
            bodies,
            crate_fingerprint=crate["fingerprint"],
            engine_version="9.9.9",
            kind="types",
            target=target,
        )
        comment = "#" if target.startswith("python") else "//"
        for body, artifact in zip(bodies, projection.artifacts, strict=True):
            lines = artifact.content.split("\n")
            assert lines[0] == f"{comment} >>> pipelex-codegen-stamp >>>"
            assert lines[6] == f"{comment} <<< pipelex-codegen-stamp <<<"
            stamp = dict(line.removeprefix(f"{comment} ").split(": ", 1) for line in lines[1:6])
            assert list(stamp) == STAMP_KEYS
            assert stamp["crate_fingerprint"] == crate["fingerprint"]
            assert stamp["engine_version"] == "9.9.9"
            assert stamp["projection"] == f"types / {target}"
            assert stamp["options"] == "{}"
            below = "\n".join(lines[7:])
            assert below == body.content
            assert stamp["content_hash"] == hashlib.sha256(below.encode("utf-8")).hexdigest()
            assert stamp["content_hash"] == content_hash(body.content)
        assert projection.lock.startswith("# codegen.lock")
        lock = tomllib.loads(projection.lock)
        assert lock == {
            "lock_version": 1,
            "crate_fingerprint": crate["fingerprint"],
            "engine_version": "9.9.9",
            "artifacts": sorted(
                ({"path": body.path, "content_hash": content_hash(body.content)} for body in bodies),
                key=lambda entry: entry["path"],
            ),
        }
    assert LOCK_FILENAME == "codegen.lock"


def test_ts_zod_writes_schemas_types_and_their_binder() -> None:
    binder, types = ts_zod(resolved_crate(_report(SHOP_SOURCES)))
    assert (binder.path, types.path) == ("binder.ts", "types.ts")
    assert 'import { z } from "zod";' in types.content
    for line in (
        "export const OrderSchema = z.object({",
        "export type Order = z.infer<typeof OrderSchema>;",
        "  /** Where it stands */",
        '  status: z.enum(["open", "shipped", "closed"]).default("open"),',
        '  channel: z.enum(["web", "store"]),',
        "  placed_on: z.string(),",
        "  items: z.array(z.lazy(() => ShopItemSchema)),",
        "  spares: z.array(z.lazy(() => ShopItemSchema)).nullish(),",
        "  extras: z.record(z.string(), z.number()).nullish(),",
        "  quantity: z.number().int().default(1),",
        "  buyer: z.lazy(() => CustomerSchema),",
        "export const CrmItemSchema = z.object({",
        "export const SummarySchema = z.lazy(() => TextSchema);",
        "export const NoteSchema = z.unknown();",
    ):
        assert line in types.content.split("\n"), line
    assert "export function parseOrder(wire: unknown): Order {" in binder.content
    assert "export function serializeOrder(value: Order): Order {" in binder.content
    assert "  return OrderSchema.parse(wire);" in binder.content


def test_ts_zod_types_a_recursive_concept_explicitly() -> None:
    crate = {
        "concepts": {
            "t.Node": {
                "description": "A node",
                "structure": {
                    "label": {"description": "Label", "type": "text", "required": True},
                    "children": {
                        "description": "Children",
                        "type": "list",
                        "item_type": "concept",
                        "item_concept_ref": "t.Node",
                        "required": False,
                    },
                },
            }
        }
    }
    _, types = ts_zod(crate)
    assert "export type Node = {\n  label: string;\n  children?: Array<Node> | null;\n};" in types.content
    assert "export const NodeSchema: z.ZodType<Node> = z.object({" in types.content
