"""The crate of `POST /v1/resolve` (`shared/tooling/crate_json.py`): every valid corpus entry resolves to a
closed, fully qualified, key-sorted crate whose fingerprint is stable, recomputable and moves with meaning."""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections import Counter
from typing import Any

import pytest

from shared.language.concept_spec import parse_concept_spec
from shared.language.model_deck import builtin_deck
from shared.language.report import BundleSource, ValidationReport
from shared.language.validator import validate_sources
from shared.tooling.crate_json import MTHDS_VERSION, canonical_json, crate_fingerprint, resolved_crate
from tests.helpers.crate_bundles import CRM, SHOP, SHOP_SOURCES, valid_corpus_entries

CRATE_KEYS = ["mthds_version", "concepts", "pipes", "domains", "source_map", "fingerprint"]
SPECIAL_OUTCOMES = {"fail", "continue"}


@pytest.fixture(scope="module")
def corpus_reports() -> list[tuple[str, ValidationReport]]:
    deck = builtin_deck()
    return [(entry.name, validate_sources(entry.bundles, deck)) for entry in valid_corpus_entries()]


def _crate(sources: tuple[BundleSource, ...] | list[BundleSource]) -> dict[str, Any]:
    report = validate_sources(sources, builtin_deck())
    assert report.is_valid, [issue.message for issue in report.issues]
    return resolved_crate(report)


def _concept_targets(concept: dict[str, Any]) -> list[str]:
    targets = [concept["refines"]] if "refines" in concept else []
    structure: dict[str, dict[str, Any]] = concept.get("structure") or {}
    for field in structure.values():
        targets += [field[key] for key in ("concept_ref", "item_concept_ref") if key in field]
    return targets


def _pipe_targets(pipe: dict[str, Any]) -> list[str]:
    steps = [step["pipe"] for step in pipe.get("steps", []) + pipe.get("branches", []) if "pipe" in step]
    outcomes = [*pipe.get("outcomes", {}).values(), pipe.get("default_outcome")]
    batch = [pipe["branch_pipe_code"]] if "branch_pipe_code" in pipe else []
    return steps + batch + [target for target in outcomes if target and target not in SPECIAL_OUTCOMES]


def _specs(pipe: dict[str, Any]) -> list[str]:
    declared: dict[str, Any] = pipe.get("inputs", {})
    inputs: list[str] = [decl["concept"] if isinstance(decl, dict) else decl for decl in declared.values()]
    return [*inputs, pipe["output"]]


def test_every_valid_corpus_entry_resolves_to_a_closed_qualified_crate(
    corpus_reports: list[tuple[str, ValidationReport]],
) -> None:
    kinds: Counter[str] = Counter()
    for name, report in corpus_reports:
        assert report.is_valid, name
        crate = resolved_crate(report)
        assert list(crate) == CRATE_KEYS, name
        assert crate["mthds_version"] == MTHDS_VERSION
        for key in ("concepts", "pipes", "domains", "source_map"):
            assert list(crate[key]) == sorted(crate[key]), f"{name}: {key} is key-sorted"
        concepts, pipes = crate["concepts"], crate["pipes"]
        referenced: set[str] = set()
        for concept in concepts.values():
            referenced.update(_concept_targets(concept))
        for ref, pipe in pipes.items():
            kinds[pipe["type"]] += 1
            referenced.update(parse_concept_spec(spec).ref for spec in _specs(pipe))
            assert all(target in pipes for target in _pipe_targets(pipe)), (
                f"{name}: {ref} names a pipe it lacks"
            )
        assert referenced <= set(concepts), f"{name}: refs outside the crate: {referenced - set(concepts)}"
        natives = {ref for ref in concepts if ref.startswith("native.")}
        assert natives <= referenced, f"{name}: natives the method does not use: {natives - referenced}"
        declared = {ref for ref in concepts if not ref.startswith("native.")} | set(pipes)
        assert set(crate["source_map"]) == declared, name
        assert all("." in ref for ref in declared), name
        assert re.fullmatch(r"[0-9a-f]{64}", crate["fingerprint"])
        json.dumps(crate, allow_nan=False)  # the answer is plain JSON
    assert {"PipeSequence", "PipeParallel", "PipeCondition", "PipeBatch", "PipeLLM"} <= set(kinds)


def test_the_fingerprint_is_the_sha256_of_the_canonical_json_of_concepts_pipes_and_domains(
    corpus_reports: list[tuple[str, ValidationReport]],
) -> None:
    for name, report in corpus_reports:
        crate = resolved_crate(report)
        payload = {key: crate[key] for key in ("concepts", "pipes", "domains")}
        encoded = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
            "utf-8"
        )
        assert crate["fingerprint"] == hashlib.sha256(encoded).hexdigest(), name
        assert canonical_json(payload) == encoded


def test_resolving_an_entry_twice_gives_the_same_crate(
    corpus_reports: list[tuple[str, ValidationReport]],
) -> None:
    deck = builtin_deck()
    entries = {entry.name: entry for entry in valid_corpus_entries()}
    for name, report in corpus_reports:
        again = resolved_crate(validate_sources(entries[name].bundles, deck))
        assert again == resolved_crate(report), name
        assert json.dumps(again) == json.dumps(resolved_crate(report)), name  # member order too


def test_the_fingerprint_moves_when_a_concept_description_changes(
    corpus_reports: list[tuple[str, ValidationReport]],
) -> None:
    changed = 0
    for name, report in corpus_reports:
        blueprints = copy.deepcopy(list(report.bundle_blueprints))
        declaring = next((bundle for bundle in blueprints if bundle.get("concept")), None)
        if declaring is None:
            continue
        code = next(iter(declaring["concept"]))
        declaring["concept"][code]["description"] += " (reworded)"
        edited = report.model_copy(update={"bundle_blueprints": tuple(blueprints)})
        assert crate_fingerprint(resolved_crate(edited)) != resolved_crate(report)["fingerprint"], name
        changed += 1
    assert changed >= 30, "most valid entries declare a concept"


def test_the_fingerprint_moves_with_the_method_and_not_with_its_file_names() -> None:
    crate = _crate(SHOP_SOURCES)
    renamed = _crate([BundleSource(path="a/orders.mthds", text=SHOP), BundleSource(path="b.mthds", text=CRM)])
    assert renamed["fingerprint"] == crate["fingerprint"]
    assert renamed["source_map"]["shop.Order"] == "a/orders.mthds"
    assert crate["source_map"]["shop.Order"] == "shop.mthds"
    reworded = _crate(
        [BundleSource(path="shop.mthds", text=SHOP.replace("A line of", "One line of")), SHOP_SOURCES[1]]
    )
    assert reworded["fingerprint"] != crate["fingerprint"]
    prompt = _crate(
        [
            BundleSource(path="shop.mthds", text=SHOP.replace("List the items", "List all items")),
            SHOP_SOURCES[1],
        ]
    )
    assert prompt["fingerprint"] != crate["fingerprint"]


def test_refinements_links_and_shorthands_are_normalized() -> None:
    concepts = _crate(SHOP_SOURCES)["concepts"]
    order = concepts["shop.Order"]["structure"]
    assert concepts["shop.BigOrder"] == {"description": "An order above a threshold", "structure": order}
    assert concepts["shop.Summary"] == {"description": "A summary", "refines": "native.Text"}
    assert concepts["shop.Note"] == {"description": "A free note"}
    assert concepts["shop.Order"]["description"] == 'An order, with "quotes" and \\ in its description'
    assert order["reference"] == {"description": "The order's reference", "type": "text", "required": True}
    assert order["items"]["item_concept_ref"] == "shop.Item"
    assert order["spares"] == {
        "description": "Spare lines, their concept named by item_type",
        "type": "list",
        "item_type": "concept",
        "item_concept_ref": "shop.Item",
        "required": False,
    }
    assert order["buyer"]["concept_ref"] == "crm.Customer"
    assert order["note"]["concept_ref"] == "shop.Note"
    assert list(order["status"]) == ["description", "choices", "default_value", "required"]
    assert list(order["extras"]) == ["description", "type", "key_type", "value_type", "required"]


def test_the_natives_used_are_materialized_with_the_natives_they_hold() -> None:
    concepts = _crate(SHOP_SOURCES)["concepts"]
    natives = {ref for ref in concepts if ref.startswith("native.")}
    # Text: pipe input and refinement; Page: pipe input, holding TextAndImages and Image (and Text again).
    assert natives == {"native.Text", "native.Page", "native.TextAndImages", "native.Image"}
    assert concepts["native.Page"]["structure"]["text_and_images"]["concept_ref"] == "native.TextAndImages"
    assert concepts["native.Text"]["structure"]["text"] == {
        "description": "The text",
        "type": "text",
        "required": True,
    }


def test_pipes_and_domains_are_qualified_and_complete() -> None:
    crate = _crate(SHOP_SOURCES)
    assert crate["pipes"]["shop.list_items"] == {
        "type": "PipeLLM",
        "description": "Lists the items of a big order",
        "inputs": {"order": "shop.BigOrder"},
        "output": "shop.Item[]",
        "prompt": "List the items of:\n\n@order\n",
    }
    assert crate["pipes"]["crm.extract_customer"]["inputs"] == {"text": "native.Text", "page": "native.Page"}
    assert crate["domains"] == {
        "crm": {"code": "crm", "description": "Customers"},
        "shop": {"code": "shop", "description": "A shop's orders", "main_pipe": "summarize"},
    }


def test_a_signature_gives_way_to_its_pipe(corpus_reports: list[tuple[str, ValidationReport]]) -> None:
    report = dict(corpus_reports)["feature_multi_file_library_research_brief"]
    declared = [bundle["pipe"].get("draft_brief") for bundle in report.bundle_blueprints]
    assert any(pipe is not None and "type" not in pipe for pipe in declared), "the entry declares a signature"
    pipe = resolved_crate(report)["pipes"]["market_research.draft_brief"]
    assert pipe["type"] == "PipeLLM"
    assert "signature_for" not in pipe


def test_resolving_needs_a_valid_report() -> None:
    report = validate_sources([BundleSource(path="x.mthds", text='domain = "x"\n[pipe.p]\n')], builtin_deck())
    assert not report.is_valid
    with pytest.raises(ValueError, match="valid report"):
        resolved_crate(report)
