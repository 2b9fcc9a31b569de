"""The vision path of PipeExtract: a page image read by a deck vision model (OCR), one chat call per
page, each leaving its usage record (`job_category` "extract", `unit_job_id` "page-<n>").

Images go to the model as `data:` URLs, so the provider never fetches anything itself.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from typing import Final, TypeVar

from shared.language.model_deck import DeckModel, ModelFamily
from shared.runtime.usage import UsageRecord
from worker.operators.model_calls import CHAT_TIMEOUT_SECONDS, call_timeout, chat, chat_usage, deck_extra, now
from worker.providers.chat import ChatProvider, ChatRequest, ImagePart

SYSTEM_PROMPT: Final = "You read images of document pages and transcribe them faithfully."
USER_PROMPT: Final = (
    "Transcribe all the text of this page as Markdown, in reading order. Keep headings, lists and "
    "tables as Markdown. Answer with the transcription only, without any comment."
)
_T = TypeVar("_T")
PAGE_CONCURRENCY: Final = 4  # pages read at once by one pipe: fast enough, gentle on rate limits


@dataclasses.dataclass
class PageReader:
    """One pipe's OCR calls to one deck model."""

    provider: ChatProvider
    handle: str
    model: DeckModel
    pipe_code: str
    usages: dict[int, UsageRecord] = dataclasses.field(default_factory=dict[int, UsageRecord])

    async def transcribe(self, image_url: str, page_number: int) -> str:
        """The page's text as the model reads it; provider faults raise typed `PipeRunError`s."""
        request = ChatRequest(
            model=self.model.model,
            user=USER_PROMPT,
            system=SYSTEM_PROMPT,
            images=(ImagePart(image_url),),
            extra=deck_extra(self.model),
            timeout_seconds=call_timeout(self.model, CHAT_TIMEOUT_SECONDS),
        )
        started = now()
        answer = await chat(self.provider, request, self.handle, self.model)
        self.usages[page_number] = chat_usage(
            answer,
            family=ModelFamily.EXTRACT,
            handle=self.handle,
            model=self.model,
            pipe_code=self.pipe_code,
            job_category="extract",
            unit_job_id=f"page-{page_number}",
            started_at=started,
        )
        return answer.texts[0]

    def records(self) -> tuple[UsageRecord, ...]:
        """The usage records in page order."""
        return tuple(self.usages[number] for number in sorted(self.usages))


async def bounded(jobs: Sequence[Callable[[], Awaitable[_T]]], limit: int = PAGE_CONCURRENCY) -> list[_T]:
    """Every job's result in order, at most `limit` running at once; the first failure cancels the rest."""
    gate = asyncio.Semaphore(limit)

    async def run(job: Callable[[], Awaitable[_T]]) -> _T:
        async with gate:
            return await job()

    tasks = [asyncio.create_task(run(job)) for job in jobs]
    try:
        return await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
