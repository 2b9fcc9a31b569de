"""Image generation through the OpenAI images API (`client.images.generate` of the official SDK), and the
checks every generated image passes before an operator stores it.

Sizes: OpenAI's image models (gpt-image-1) accept only `1024x1024`, `1536x1024`, `1024x1536` or `auto`.
An exact `"WxH"` is sent as written (the provider refuses what it does not accept); an `aspect_ratio`
picks the accepted size whose ratio is nearest (every landscape ratio gives `1536x1024`, every portrait
one `1024x1536`); a `0.5k`..`4k` size alone asks for a square `1024x1024`, the only square on offer;
nothing at all sends `auto`. Answers come as base64 (`b64_json`) or as a URL the caller fetches.
"""

from __future__ import annotations

import base64
import binascii
import io
import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import openai
from PIL import Image, UnidentifiedImageError
from PIL.Image import DecompressionBombError, DecompressionBombWarning

from worker.providers.chat import ProviderCode, ProviderError, TokenUsage
from worker.providers.openai_provider import PROVIDER, OpenAIChatProvider
from worker.tracing import traced_call

AUTO_SIZE: Final = "auto"
# The sizes the API accepts, by width / height.
ACCEPTED_SIZES: Final = {"1024x1024": 1.0, "1536x1024": 1.5, "1024x1536": 1024 / 1536}
SQUARE: Final = "1024x1024"
MAX_N: Final = 10  # the most images one API call may ask for
# Image formats an answer may hold, by Pillow's name: (mime type, file suffix).
IMAGE_FORMATS: Final = {
    "PNG": ("image/png", "png"),
    "JPEG": ("image/jpeg", "jpg"),
    "WEBP": ("image/webp", "webp"),
    "GIF": ("image/gif", "gif"),
}


@dataclass(frozen=True, slots=True)
class ImageRequest:
    model: str  # the provider's model id
    prompt: str
    n: int = 1
    size: str = AUTO_SIZE
    quality: Literal["low", "medium", "high"] | None = None
    background: Literal["transparent", "opaque", "auto"] | None = None
    output_format: Literal["png", "jpeg", "webp"] | None = None
    moderation: Literal["low", "auto"] | None = None
    timeout_seconds: float = 300
    extra: dict[str, Any] = field(default_factory=dict[str, Any])  # the deck entry's provider settings


@dataclass(frozen=True, slots=True)
class GeneratedImage:
    """One answered image: its bytes (decoded from base64), else the URL to fetch them from."""

    data: bytes | None = None
    url: str | None = None


@dataclass(frozen=True, slots=True)
class ImageAnswer:
    images: tuple[GeneratedImage, ...]
    usage: TokenUsage | None  # None when the provider reported no token usage


@dataclass(frozen=True, slots=True)
class ImageFile:
    """What the bytes of a generated image really are."""

    mime_type: str
    suffix: str
    width: int
    height: int


def openai_size(size: str | None, aspect_ratio: str | None) -> str:
    """The `size` to send for a pipe's `size` and `aspect_ratio` (see the module docstring)."""
    if size is not None and "x" in size:
        return size
    if aspect_ratio is not None:
        ratio = aspect_ratio_value(aspect_ratio)
        return min(ACCEPTED_SIZES, key=lambda name: abs(math.log(ACCEPTED_SIZES[name] / ratio)))
    return SQUARE if size is not None else AUTO_SIZE


def aspect_ratio_value(aspect_ratio: str) -> float:
    """Width / height of an mthds aspect ratio: `square` is 1, `landscape_16_9` is 16/9."""
    if aspect_ratio == "square":
        return 1.0
    _, first, second = aspect_ratio.split("_")
    return int(first) / int(second)


@traced_call("generate_image", PROVIDER)
async def generate_images(provider: OpenAIChatProvider, request: ImageRequest) -> ImageAnswer:
    """`request.n` images from the provider; every failure is a `ProviderError`."""
    try:
        response = await provider.client.images.generate(
            model=request.model,
            prompt=request.prompt,
            n=request.n,
            size=request.size,
            quality=openai.omit if request.quality is None else request.quality,
            background=openai.omit if request.background is None else request.background,
            output_format=openai.omit if request.output_format is None else request.output_format,
            moderation=openai.omit if request.moderation is None else request.moderation,
            timeout=request.timeout_seconds,
            extra_body=dict(request.extra) or None,
        )
    except openai.OpenAIError as exc:
        raise provider.provider_error(exc) from exc
    data = response.data or []
    if len(data) != request.n:
        msg = f"the answer held {len(data)} images where {request.n} were asked for"
        raise invalid_answer(msg)
    images = tuple(answered_image(item.b64_json, item.url, index) for index, item in enumerate(data))
    usage = response.usage
    tokens = None if usage is None else TokenUsage(usage.input_tokens or 0, usage.output_tokens or 0)
    return ImageAnswer(images, tokens)


def answered_image(b64_json: str | None, url: str | None, index: int) -> GeneratedImage:
    """One item of an answer: its base64 decoded, else its http(s) URL; `provider.response_invalid`
    otherwise."""
    if b64_json:
        try:
            return GeneratedImage(data=base64.b64decode(b64_json, validate=True))
        except (binascii.Error, ValueError) as exc:
            msg = f"image {index + 1} of the answer is not valid base64: {exc}"
            raise invalid_answer(msg) from exc
    if url:
        # Only the web: a `pipelex-storage://` or `data:` URL would make us read our own storage for it.
        if not url.startswith(("https://", "http://")):
            msg = f"image {index + 1} of the answer has a URL that is not http(s): {url[:64]}"
            raise invalid_answer(msg)
        return GeneratedImage(url=url)
    msg = f"image {index + 1} of the answer has neither 'b64_json' nor 'url'"
    raise invalid_answer(msg)


def read_image(data: bytes) -> ImageFile:
    """The type and size of an answered image; `ProviderError(provider.response_invalid)` when the bytes
    are not a whole PNG, JPEG, WebP or GIF."""
    try:
        with warnings.catch_warnings():
            # A bomb-sized image is refused like any broken answer, never decoded.
            warnings.simplefilter("error", DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                kind, (width, height) = image.format, image.size
                image.verify()  # checksums and structure, without decoding every pixel
    except (
        UnidentifiedImageError,
        DecompressionBombError,
        DecompressionBombWarning,
        OSError,
        SyntaxError,  # what Pillow raises for a broken PNG chunk
        ValueError,
    ) as exc:
        msg = f"the answered image cannot be read ({len(data)} bytes): {exc}"
        raise invalid_answer(msg) from exc
    known = IMAGE_FORMATS.get(kind or "")
    if known is None:
        msg = f"the answered image is a {kind}, not a PNG, JPEG, WebP or GIF"
        raise invalid_answer(msg)
    return ImageFile(known[0], known[1], width, height)


def invalid_answer(message: str) -> ProviderError:
    """An answer we cannot use: the model may do better on another try."""
    return ProviderError(
        ProviderCode.RESPONSE_INVALID, message, retryable=True, params={"provider": PROVIDER}
    )
