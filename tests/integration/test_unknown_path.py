"""An unknown path (http-api.md §2): a 404 `request.not_found` that says the path does not exist."""

from __future__ import annotations

import httpx

from tests.helpers.api_server import asgi_client, assert_problem


async def test_an_unknown_path_is_said_not_to_exist() -> None:
    async with asgi_client() as client:
        response: httpx.Response = await client.get("/v1/nope")
    document = assert_problem(response, 404, "request.not_found")
    assert document["detail"] == "The path '/v1/nope' does not exist on this service."
    # A mistyped path is not a reason to upgrade anything: no text a person reads suggests it.
    for text in (document["title"], document["detail"], document["next_step"]["detail"]):
        assert "upgrad" not in text.lower(), text
