"""PipeImgGen runs for real: the API and a worker on Temporal, a custom model deck, and the OpenAI SDK's
images API talking to the fake OpenAI-compatible server on loopback (PNG bytes stored, usage priced,
typed faults).
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest

from shared.storage.blob_store import STORAGE_SCHEME, LocalBlobStore
from tests.helpers.api_server import assert_problem
from tests.helpers.model_servers.model_server import Fault, ModelServer
from tests.helpers.model_servers.tiny_png import PNG_SIGNATURE, png_size
from tests.helpers.model_stack import main_content, model_stack
from tests.helpers.run_stack import RunStack

KEY = "sk-test-img-runs"
IMAGES = "/v1/images/generations"
CHAT = "/v1/chat/completions"
IMAGE_COST = 0.04
DECK = f"""
[models.test-llm]
type = "llm"
provider = "openai"
model = "test-model"

[models.test-img]
type = "img_gen"
provider = "openai"
model = "test-image-model"
image_cost = {IMAGE_COST}
costs = {{ input = 5.0, output = 40.0 }}

[models.test-img-url]
type = "img_gen"
provider = "openai"
model = "test-image-model"
settings = {{ response_format = "url" }}

[models.test-img-slow]
type = "img_gen"
provider = "openai"
model = "test-image-model"
settings = {{ timeout_seconds = 1 }}

[aliases.llm]
default-general = "test-llm"

[aliases.img_gen]
default-general = "test-img"
"""


def _pipe(name: str, output: str, extra: str = "", model: str = "") -> str:
    return f"""
[pipe.{name}]
type = "PipeImgGen"
description = "Draws"
inputs = {{ topic = "Text" }}
output = "{output}"
prompt = "A poster about {{{{ topic }}}}."
{model}
{extra}
"""


BUNDLE = (
    'domain = "img_runs"\n'
    + _pipe(
        "poster",
        "Image",
        'negative_prompt = "blurry {{ topic }}"\nsize = "1536x1024"\nbackground = "opaque"\n'
        'output_format = "png"',
        'model = { model = "test-img", quality = "high" }',
    )
    + _pipe("pair", "Image[2]", 'aspect_ratio = "portrait_2_3"')
    + _pipe("via_url", "Image", 'size = "1k"', 'model = "test-img-url"')
    + _pipe("slow", "Image", "", 'model = "test-img-slow"')
    + """
[pipe.describe]
type = "PipeLLM"
description = "Describes a scene"
inputs = { topic = "Text" }
output = "Text"
prompt = "Describe a scene about {{ topic }}."

[pipe.draw_scene]
type = "PipeImgGen"
description = "Draws the scene"
inputs = { scene = "Text" }
output = "Image"
prompt = "{{ scene }}"

[pipe.illustrate]
type = "PipeSequence"
description = "Describes then draws"
inputs = { topic = "Text" }
output = "Image"
steps = [{ pipe = "describe", result = "scene" }, { pipe = "draw_scene", result = "picture" }]
"""
)


def img_stack(
    temporal_address: str,
    tmp_path: Path,
    server: ModelServer,
    *,
    attempts: int = 1,
    allow_private_urls: bool = True,
) -> AbstractAsyncContextManager[RunStack]:
    return model_stack(
        temporal_address,
        tmp_path,
        [server],
        deck=DECK,
        keys={"openai": KEY},
        pipe_activity_max_attempts=attempts,
        # Answered image URLs point at the loopback test server.
        allow_private_input_urls=allow_private_urls,
    )


def execute(pipe: str, run_id: str) -> dict[str, Any]:
    return {
        "mthds_contents": [BUNDLE],
        "pipe_code": pipe,
        "inputs": {"topic": "owls"},
        "pipeline_run_id": run_id,
    }


def stored_png(tmp_path: Path, image: dict[str, Any]) -> tuple[int, int]:
    """The size of the PNG stored at the image's URL, after checking the content describes it."""
    data = LocalBlobStore(tmp_path / "data" / "storage").get(image["url"])
    assert data.startswith(PNG_SIGNATURE)
    assert image["mime_type"] == "image/png"
    assert image["filename"].endswith(".png")
    assert image["url"].endswith(f"/images/{image['filename']}")
    assert image["public_url"].startswith("file://")
    assert Path(image["public_url"].removeprefix("file://")).read_bytes() == data
    width, height = png_size(data)
    assert (image["width"], image["height"]) == (width, height)
    return width, height


def stored_pngs(tmp_path: Path) -> list[Path]:
    return list(tmp_path.rglob("*.png"))


async def test_single_image_is_generated_stored_and_priced(temporal_address: str, tmp_path: Path) -> None:
    server = ModelServer("openai", api_key=KEY)
    async with img_stack(temporal_address, tmp_path, server) as stack:
        response = await stack.client.post("/v1/execute", json=execute("poster", "run-img-single"))
        assert response.status_code == 200, response.text
        body = response.json()
    image = main_content(body)
    assert image["url"].startswith(f"{STORAGE_SCHEME}")
    assert stored_png(tmp_path, image) == (1536, 1024)
    assert image["source_prompt"] == "A poster about owls."
    assert image["source_negative_prompt"] == "blurry owls"
    assert image["caption"] is None

    [sent] = server.requests(IMAGES)
    assert sent.body["model"] == "test-image-model"
    assert sent.body["prompt"] == "A poster about owls.\n\nAvoid: blurry owls"
    assert sent.body["size"] == "1536x1024"
    assert sent.body["n"] == 1
    assert sent.body["quality"] == "high"
    assert sent.body["background"] == "opaque"
    assert sent.body["output_format"] == "png"
    assert "response_format" not in sent.body
    assert "seed" not in sent.body

    [usage] = body["pipe_output"]["tokens_usages"]
    assert usage["model_type"] == "img_gen"
    assert usage["job_category"] == "img_gen"
    assert usage["pipe_code"] == "poster"
    assert usage["inference_model_name"] == "test-img"
    assert usage["inference_model_id"] == "test-image-model"
    # The server counts one token per prompt word (7 here) and 100 output tokens per image.
    assert usage["nb_tokens_by_category"] == {"input": 7, "output": 100, "images": 1}
    assert usage["cost"] == pytest.approx(IMAGE_COST + (7 * 5.0 + 100 * 40.0) / 1_000_000)


async def test_image_list_asks_for_n_images_and_a_sequence_draws_a_description(
    temporal_address: str, tmp_path: Path
) -> None:
    server = ModelServer("openai", api_key=KEY, answer="An owl on a branch at dusk.")
    async with img_stack(temporal_address, tmp_path, server) as stack:
        pair = await stack.client.post("/v1/execute", json=execute("pair", "run-img-pair"))
        assert pair.status_code == 200, pair.text
        sequence = await stack.client.post("/v1/execute", json=execute("illustrate", "run-img-sequence"))
        assert sequence.status_code == 200, sequence.text
    items = main_content(pair.json())["items"]
    assert len(items) == 2
    for image in items:
        assert stored_png(tmp_path, image) == (1024, 1536)  # portrait_2_3 → the portrait size
        assert image["source_negative_prompt"] is None
    first_call, second_call = server.requests(IMAGES)
    assert first_call.body["n"] == 2
    assert first_call.body["size"] == "1024x1536"
    assert first_call.body["model"] == "test-image-model"  # the deck's `@default-general` img_gen alias
    assert first_call.body["prompt"] == "A poster about owls."
    [usage] = pair.json()["pipe_output"]["tokens_usages"]
    assert usage["nb_tokens_by_category"]["images"] == 2
    assert usage["cost"] == pytest.approx(2 * IMAGE_COST + (4 * 5.0 + 200 * 40.0) / 1_000_000)

    # PipeLLM → PipeImgGen: the model's description is the image prompt.
    assert second_call.body["prompt"] == "An owl on a branch at dusk."
    assert second_call.body["size"] == "auto"
    picture = main_content(sequence.json())
    assert stored_png(tmp_path, picture) == (1024, 1024)  # the server's size for `auto`
    assert [usage["job_category"] for usage in sequence.json()["pipe_output"]["tokens_usages"]] == [
        "llm_text",
        "img_gen",
    ]
    assert len(server.requests(CHAT)) == 1


async def test_an_image_answered_by_url_is_fetched_and_stored(temporal_address: str, tmp_path: Path) -> None:
    """The URL answer goes through the input-file reader (SSRF guard, size limit) of `url_fetch.py`."""
    server = ModelServer("openai", api_key=KEY)
    async with img_stack(temporal_address, tmp_path, server) as stack:
        response = await stack.client.post("/v1/execute", json=execute("via_url", "run-img-url"))
        assert response.status_code == 200, response.text
    image = main_content(response.json())
    assert stored_png(tmp_path, image) == (1024, 1024)
    [sent] = server.requests(IMAGES)
    assert sent.body["response_format"] == "url"  # from the deck entry's settings
    assert sent.body["size"] == "1024x1024"  # `1k` alone: the square
    [usage] = response.json()["pipe_output"]["tokens_usages"]
    assert usage["cost"] is None  # the deck gives this model no prices


async def test_an_answered_url_to_a_private_address_is_refused(temporal_address: str, tmp_path: Path) -> None:
    server = ModelServer("openai", api_key=KEY)
    async with img_stack(temporal_address, tmp_path, server, attempts=3, allow_private_urls=False) as stack:
        response = await stack.client.post("/v1/execute", json=execute("via_url", "run-img-private-url"))
        problem = assert_problem(response, 502, "provider.response_invalid")
        assert "could not be read" in problem["detail"]
        assert problem["params"]["reason"] == "security.input_url_refused"  # the SSRF guard's (loopback)
    assert len(server.requests(IMAGES)) == 1  # the SSRF guard's refusal is not retried
    assert stored_pngs(tmp_path) == []


async def test_refused_key_fails_at_once(temporal_address: str, tmp_path: Path) -> None:
    server = ModelServer("openai", api_key="sk-another-key")
    async with img_stack(temporal_address, tmp_path, server, attempts=3) as stack:
        response = await stack.client.post("/v1/execute", json=execute("poster", "run-img-401"))
        problem = assert_problem(response, 502, "provider.credential_refused")
        assert problem["location"]["pipe"] == "poster"
        assert KEY not in response.text
    assert len(server.requests(IMAGES)) == 1  # not retried, though three attempts were allowed


async def test_rate_limit_is_retried_after_the_given_delay(temporal_address: str, tmp_path: Path) -> None:
    server = ModelServer("openai", api_key=KEY)
    server.script(Fault(status=429, retry_after=1, path=IMAGES))
    async with img_stack(temporal_address, tmp_path, server, attempts=2) as stack:
        response = await stack.client.post("/v1/execute", json=execute("poster", "run-img-429"))
        assert response.status_code == 200, response.text
    limited, answered = server.requests(IMAGES)
    assert (limited.status, answered.status) == (429, 200)
    assert answered.at - limited.at >= 0.9  # Retry-After: 1 set the next attempt's delay (a lower bound)
    assert stored_png(tmp_path, main_content(response.json())) == (1536, 1024)


async def test_provider_faults_are_typed(temporal_address: str, tmp_path: Path) -> None:
    server = ModelServer("openai", api_key=KEY)
    server.script(Fault(status=500, path=IMAGES), Fault(delay=5, path=IMAGES))
    async with img_stack(temporal_address, tmp_path, server) as stack:
        down = await stack.client.post("/v1/execute", json=execute("poster", "run-img-500"))
        assert_problem(down, 502, "provider.unavailable")
        slow = await stack.client.post("/v1/execute", json=execute("slow", "run-img-slow"))
        assert_problem(slow, 504, "provider.timeout")  # the deck's `timeout_seconds = 1`
    assert server.pending_faults == []
    assert len(server.requests(IMAGES)) == 2  # one attempt each


async def test_an_answer_that_is_not_an_image_is_invalid(temporal_address: str, tmp_path: Path) -> None:
    server = ModelServer("openai", api_key=KEY)
    server.script(Fault(text="@@ not base64 @@", path=IMAGES), Fault(text="bm90IGFuIGltYWdl", path=IMAGES))
    async with img_stack(temporal_address, tmp_path, server) as stack:
        garbage = await stack.client.post("/v1/execute", json=execute("poster", "run-img-garbage"))
        problem = assert_problem(garbage, 502, "provider.response_invalid")
        assert "base64" in problem["detail"]
        not_image = await stack.client.post("/v1/execute", json=execute("poster", "run-img-not-image"))
        problem = assert_problem(not_image, 502, "provider.response_invalid")
        assert "cannot be read" in problem["detail"]
