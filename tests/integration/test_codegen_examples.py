"""The generated pydantic models accept the examples `/v1/build/output` gives: the two routes describe the
same contents (issue 16)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

from tests.helpers.api_server import asgi_client
from tests.helpers.crate_bundles import SHOP_SOURCES

FILES = {source.path: source.text for source in SHOP_SOURCES}


async def _models(client: httpx.AsyncClient, tmp_path: Path) -> ModuleType:
    answer = await client.post(
        "/v1/codegen", json={"files": FILES, "kind": "types", "target": "python-pydantic"}
    )
    assert answer.status_code == 200, answer.text
    [artifact] = answer.json()["artifacts"]
    path = tmp_path / "shop_models.py"
    path.write_text(artifact["content"], encoding="utf-8")
    spec = importlib.util.spec_from_file_location("shop_models", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["shop_models"] = module  # forward references resolve through the module's namespace
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules["shop_models"]
    return module


async def _example(client: httpx.AsyncClient, pipe_ref: str) -> dict[str, Any]:
    answer = await client.post(
        "/v1/build/output", json={"files": FILES, "pipe_ref": pipe_ref, "format": "json"}
    )
    assert answer.status_code == 200, answer.text
    output: dict[str, Any] = answer.json()["output"]
    return output


@pytest.mark.parametrize(("pipe_ref", "model_name"), [("crm.extract_customer", "Customer")])
async def test_a_single_output_example_validates_with_its_generated_model(
    tmp_path: Path, pipe_ref: str, model_name: str
) -> None:
    async with asgi_client() as client:
        models = await _models(client, tmp_path)
        example = await _example(client, pipe_ref)
    model: type[BaseModel] = getattr(models, model_name)
    assert model.model_validate(example["content"]).model_dump(mode="json") == example["content"]


async def test_every_item_of_a_list_output_example_validates(tmp_path: Path) -> None:
    async with asgi_client() as client:
        models = await _models(client, tmp_path)
        example = await _example(client, "shop.list_items")
    # Two domains declare `Item`: the generated class carries its domain.
    model: type[BaseModel] = models.shop__Item
    assert example["concept"] == "shop.Item"
    items = example["content"]["items"]
    assert items
    for item in items:
        model.model_validate(item)
    # And a content of the other domain's `Item` does not pass for it.
    with pytest.raises(ValueError, match="label"):
        model.model_validate({"code": "x"})
