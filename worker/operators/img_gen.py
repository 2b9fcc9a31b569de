"""PipeImgGen for real (mthds.md §2.7): the prompts rendered, the deck's image model called through the
OpenAI images API, each image checked and stored under the run's key as a native `Image` content.

What OpenAI's images API cannot express, and what we do instead:
- no negative prompt: a `negative_prompt` is appended to the prompt as "Avoid: ...";
- no seed, steps, guidance scale, safety tolerance or raw mode: `seed`, `nb_steps`, `guidance_scale`,
  `safety_tolerance` and `is_raw` are ignored; `is_moderated = false` asks for `moderation = "low"`;
- sizes: see `worker/providers/images.py` (nearest accepted size, else `auto`).
`Image[N]` asks for N images (`n`, at most 10 per API call, one usage record per call); a single
`Image` and a variable list `Image[]` ask for one. A deck entry's `settings` are sent with every call,
except `timeout_seconds`, which bounds each call (default 300 s).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
from typing import Any, Final

from shared.language.model_choice import DEFAULT_IMG_GEN
from shared.language.model_deck import DeckModel, ModelFamily
from shared.language.pipe_blueprints import ImgGenSetting, PipeImgGen
from shared.runtime.operator_call import OperatorCall, Produced
from shared.runtime.operator_prompts import render_operator_templates
from shared.runtime.run_failure import FailureCode, PipeRunError
from shared.runtime.usage import IMAGES, INPUT, OUTPUT, UsageRecord
from worker.operators import call_budget
from worker.operators.context import OperatorContext
from worker.operators.model_calls import (
    call_timeout,
    deck_extra,
    model_costs,
    now,
    resolve_model,
    typed,
    usage_record,
)
from worker.providers.chat import ProviderCode, ProviderError
from worker.providers.images import (
    MAX_N,
    GeneratedImage,
    ImageAnswer,
    ImageRequest,
    generate_images,
    openai_size,
    read_image,
)
from worker.providers.openai_provider import PROVIDER, OpenAIChatProvider

DEFAULT_TIMEOUT_SECONDS: Final = 300.0
JOB_CATEGORY: Final = "img_gen"


async def run_img_gen(call: OperatorCall, context: OperatorContext) -> Produced:
    """The call's images, generated and stored; failures raise a typed `PipeRunError`."""
    blueprint = call.pipe.blueprint
    if not isinstance(blueprint, PipeImgGen):
        msg = f"run_img_gen runs PipeImgGen pipes, not {blueprint.type}"
        raise TypeError(msg)
    rendered = render_operator_templates(call, context.views)
    prompt = rendered.get("prompt", "")
    negative = rendered.get("negative_prompt") or None
    reference = blueprint.model
    setting = reference if isinstance(reference, ImgGenSetting) else None
    chosen = reference.model if isinstance(reference, ImgGenSetting) else reference
    handle, model = resolve_model(context.deck, ModelFamily.IMG_GEN, chosen, [DEFAULT_IMG_GEN])
    provider = context.providers.openai_for(model)
    moderation = None
    if setting is not None and setting.is_moderated is not None:
        moderation = "auto" if setting.is_moderated else "low"
    request = ImageRequest(
        model=model.model,
        prompt=f"{prompt}\n\nAvoid: {negative}" if negative else prompt,
        size=openai_size(blueprint.size, blueprint.aspect_ratio),
        quality=setting.quality if setting is not None else None,
        background=blueprint.background,
        output_format=blueprint.output_format,
        moderation=moderation,
        timeout_seconds=call_timeout(model, DEFAULT_TIMEOUT_SECONDS),
        extra=deck_extra(model),
    )
    wanted = call.output.count if call.output.is_list and call.output.count else 1
    contents: list[dict[str, Any]] = []
    usages: list[UsageRecord] = []
    for batch, first in enumerate(range(0, wanted, MAX_N)):
        started = now()
        asked = dataclasses.replace(request, n=min(MAX_N, wanted - first))
        try:
            answer = await _generated(provider, asked, model)
        except ProviderError as error:
            raise typed(error, handle) from error
        usages.append(
            usage_record(
                family=ModelFamily.IMG_GEN,
                handle=handle,
                model=model,
                pipe_code=call.pipe.code,
                job_category=JOB_CATEGORY,
                unit_job_id=f"batch-{batch}" if wanted > MAX_N else "generation",
                tokens=_tokens(answer),
                started_at=started,
            )
        )
        for image in answer.images:
            content = await _stored(image, context, handle, len(contents))
            contents.append({**content, "source_prompt": prompt, "source_negative_prompt": negative})
    if call.output.is_list:
        return Produced({"items": contents}, usages=tuple(usages))
    return Produced(contents[0], usages=tuple(usages))


async def _generated(provider: OpenAIChatProvider, asked: ImageRequest, model: DeckModel) -> ImageAnswer:
    """The provider's images; in a budgeted run, their worst case reserved first (`call_budget.py`)."""
    costs, image_cost = model_costs(model)
    return await call_budget.within_budget(
        lambda: call_budget.image_estimate(asked.prompt, asked.n, costs, image_cost),
        lambda: generate_images(provider, asked),
        lambda answer: call_budget.priced(_tokens(answer), costs, image_cost),
    )


def _tokens(answer: ImageAnswer) -> dict[str, int]:
    tokens = {IMAGES: len(answer.images)}
    if answer.usage is not None:
        tokens = {INPUT: answer.usage.input_tokens, OUTPUT: answer.usage.output_tokens, **tokens}
    return tokens


async def _stored(image: GeneratedImage, context: OperatorContext, handle: str, index: int) -> dict[str, Any]:
    """The image checked and put in the run's storage, as the fields of an `Image` content."""
    data = image.data if image.data is not None else await _fetched(image.url or "", context, handle, index)
    try:
        file = read_image(data)
    except ProviderError as error:
        raise typed(error, handle) from error
    filename = f"{hashlib.sha256(data).hexdigest()[:32]}.{file.suffix}"
    key = f"{context.run_key}/images/{filename}"
    # Off the loop: the store may be S3 (blocking calls).
    uri = await asyncio.to_thread(context.store.put, key, data, file.mime_type)
    public_url = await asyncio.to_thread(context.store.public_url, uri)
    return {
        "url": uri,
        "public_url": public_url,
        "caption": None,
        "mime_type": file.mime_type,
        "width": file.width,
        "height": file.height,
        "filename": filename,
    }


async def _fetched(url: str, context: OperatorContext, handle: str, index: int) -> bytes:
    """The bytes behind an answered URL, read through the SSRF guard and size limit of input files.

    Every failure is the provider's, not the caller's (whose inputs are not at fault): unreachable is
    `provider.unavailable`, anything else an unusable answer; only a URL the guard refuses (a private
    address) is not worth another attempt.
    """
    name = f"image {index + 1} of model {handle}"
    try:
        return (await context.files.read(url, input_name=name)).data
    except PipeRunError as failure:
        code = ProviderCode.UNAVAILABLE if failure.retryable else ProviderCode.RESPONSE_INVALID
        error = ProviderError(
            code,
            f"the image URL the model answered could not be read: {failure.message}",
            retryable=failure.retryable or failure.code != FailureCode.FILE_URL_REFUSED,
            params={"provider": PROVIDER, "url": url[:200], "reason": failure.code},
        )
        raise typed(error, handle) from failure
