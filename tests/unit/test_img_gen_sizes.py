"""The PipeImgGen size mapping onto the sizes OpenAI's images API accepts, and the checks every answered
image passes (base64, real image bytes, their type and size)."""

from __future__ import annotations

import base64
import io
from typing import get_args

import pytest
from PIL import Image

from shared.language.pipe_blueprints import AspectRatio
from tests.helpers.model_servers.tiny_png import solid_png
from worker.providers.chat import ProviderCode, ProviderError
from worker.providers.images import (
    ACCEPTED_SIZES,
    ImageFile,
    answered_image,
    aspect_ratio_value,
    openai_size,
    read_image,
)


def test_an_exact_size_is_sent_as_written() -> None:
    assert openai_size("1536x1024", None) == "1536x1024"
    assert openai_size("640x480", None) == "640x480"  # the provider says whether it accepts it


def test_nothing_given_is_auto_and_a_size_alone_is_the_square() -> None:
    assert openai_size(None, None) == "auto"
    for size in ("0.5k", "1k", "2k", "4k"):
        assert openai_size(size, None) == "1024x1024"


@pytest.mark.parametrize("ratio", get_args(AspectRatio))
def test_every_aspect_ratio_maps_to_an_accepted_size_of_its_orientation(ratio: str) -> None:
    for size in (None, "2k"):
        chosen = openai_size(size, ratio)
        assert chosen in ACCEPTED_SIZES
        width, _, height = chosen.partition("x")
        expected = "square" if ratio == "square" else ratio.split("_")[0]
        orientation = "square" if width == height else "landscape" if int(width) > int(height) else "portrait"
        assert orientation == expected


def test_aspect_ratio_values() -> None:
    assert aspect_ratio_value("square") == 1.0
    assert aspect_ratio_value("landscape_16_9") == pytest.approx(16 / 9)
    assert aspect_ratio_value("portrait_9_21") == pytest.approx(9 / 21)


def _jpeg(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 10, 10)).save(buffer, format="JPEG")
    return buffer.getvalue()


def test_read_image_tells_the_real_type_and_size() -> None:
    assert read_image(solid_png(3, 2)) == ImageFile("image/png", "png", 3, 2)
    assert read_image(_jpeg(5, 7)) == ImageFile("image/jpeg", "jpg", 5, 7)


def _refused(data: bytes) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        read_image(data)
    return caught.value


def test_bytes_that_are_not_a_whole_image_are_an_invalid_answer() -> None:
    png = solid_png(4, 4)
    corrupted = png[:45] + bytes([png[45] ^ 0xFF]) + png[46:]  # in the IDAT data: its checksum fails
    for data in (b"", b"not an image at all", b"%PDF-1.7\n...", png[:30], corrupted):
        error = _refused(data)
        assert error.code == ProviderCode.RESPONSE_INVALID
        assert error.retryable


def test_an_answer_item_is_decoded_or_refused() -> None:
    png = solid_png(2, 2)
    assert answered_image(base64.b64encode(png).decode(), None, 0).data == png
    assert answered_image(None, "https://example.org/a.png", 0).url == "https://example.org/a.png"
    refused = (
        ("@@@ not base64 @@@", None),
        (None, None),
        ("", ""),
        (None, "pipelex-storage://another-tenant/runs/x/files/secret.png"),  # never our own storage
        (None, "data:image/png;base64,AAAA"),
        (None, "file:///etc/passwd"),
    )
    for b64, url in refused:
        with pytest.raises(ProviderError) as caught:
            answered_image(b64, url, 2)
        assert caught.value.code == ProviderCode.RESPONSE_INVALID
        assert "image 3" in caught.value.message
