"""Web search through an OpenAI-compatible chat completions API (issue 6, PipeSearch): a question in, an
answer with its sources out.

One call to `chat.completions` with `web_search_options` (OpenAI's search models; OpenRouter and
Perplexity speak the same API). What is sent:
- `model`, one user message: the prompt, then one plain-language line per filter (domains to keep or
  leave out, the date range, how many sources to cite), so every server hears them;
- `web_search_options`: what the deck entry's `settings.web_search_options` holds (OpenAI defines only
  `search_context_size` and `user_location` there), else `{}`;
- to servers other than OpenAI itself (OpenAI refuses request fields it does not know), Perplexity's
  filter fields in the body: `search_domain_filter` (kept domains, left-out ones prefixed with `-`),
  `search_after_date_filter` / `search_before_date_filter` (`M/D/YYYY`); plus the deck entry's other
  settings, as for chat.
The answer is the message text; its sources are the message's `url_citation` annotations, then
Perplexity's top-level `search_results` (url, title, snippet) and `citations` (URLs), one per URL in that
order, later entries filling a missing title or snippet. Without inline citations, the annotated spans
(and Perplexity's `[n]` markers) are cut from the text. SDK failures become `ProviderError`s.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, cast

import openai
from openai.types.chat import ChatCompletion
from openai.types.chat.completion_create_params import WebSearchOptions

from worker.providers.chat import ProviderCode, ProviderError, TokenUsage
from worker.providers.openai_provider import PROVIDER, OpenAIChatProvider
from worker.tracing import traced_call

_MARKER = re.compile(r"\[\d+\]")  # Perplexity's inline citation markers, pointing into `citations`
_SPACE_BEFORE_PUNCTUATION = re.compile(r"[ \t]+(?=[.,;:!?])")
_SPACES = re.compile(r"[ \t]{2,}")


@dataclass(frozen=True, slots=True)
class SearchFilters:
    include_domains: tuple[str, ...] = ()
    exclude_domains: tuple[str, ...] = ()
    from_date: str | None = None  # YYYY-MM-DD
    to_date: str | None = None
    max_results: int | None = None

    def instructions(self) -> list[str]:
        """The filters as sentences for the prompt."""
        lines: list[str] = []
        if self.include_domains:
            lines.append(f"Only use sources from these domains: {', '.join(self.include_domains)}.")
        if self.exclude_domains:
            lines.append(f"Do not use sources from these domains: {', '.join(self.exclude_domains)}.")
        if self.from_date:
            lines.append(f"Only use sources published on or after {self.from_date}.")
        if self.to_date:
            lines.append(f"Only use sources published on or before {self.to_date}.")
        if self.max_results:
            lines.append(f"Cite at most {self.max_results} sources.")
        return lines

    def perplexity_fields(self) -> dict[str, Any]:
        """The filters in Perplexity's request fields."""
        fields: dict[str, Any] = {}
        domains = [*self.include_domains, *(f"-{domain}" for domain in self.exclude_domains)]
        if domains:
            fields["search_domain_filter"] = domains
        if self.from_date:
            fields["search_after_date_filter"] = _us_date(self.from_date)
        if self.to_date:
            fields["search_before_date_filter"] = _us_date(self.to_date)
        return fields


@dataclass(frozen=True, slots=True)
class SearchRequest:
    model: str  # the provider's model id
    prompt: str
    filters: SearchFilters = SearchFilters()
    inline_citations: bool = True
    settings: dict[str, Any] = field(default_factory=dict[str, Any])  # the deck entry's `settings`
    timeout_seconds: float = 180


@dataclass(frozen=True, slots=True)
class Source:
    url: str
    title: str | None = None
    snippet: str | None = None


@dataclass(frozen=True, slots=True)
class SearchAnswer:
    answer: str
    sources: tuple[Source, ...]
    usage: TokenUsage
    model: str


class SearchProvider:
    """Searches through one OpenAI-compatible client; `openai_proper` when it is OpenAI's own API."""

    def __init__(self, chat: OpenAIChatProvider, *, openai_proper: bool) -> None:
        self._chat = chat
        self._openai_proper = openai_proper

    @traced_call("search", PROVIDER)
    async def search(self, request: SearchRequest) -> SearchAnswer:
        """The answer and sources for `request`; raises `ProviderError`."""
        settings = dict(request.settings)
        options: Any = settings.pop("web_search_options", None)
        extra = settings if self._openai_proper else {**settings, **request.filters.perplexity_fields()}
        prompt = "\n".join([request.prompt, *request.filters.instructions()])
        try:
            completion = await self._chat.client.chat.completions.create(
                model=request.model,
                messages=[{"role": "user", "content": prompt}],
                web_search_options=cast("WebSearchOptions", options if isinstance(options, dict) else {}),
                timeout=request.timeout_seconds,
                extra_body=extra or None,
            )
        except openai.OpenAIError as exc:
            raise self._chat.provider_error(exc) from exc
        return _answer(completion, request)


def _answer(completion: ChatCompletion, request: SearchRequest) -> SearchAnswer:
    if not completion.choices:
        msg = "the search answer had no choices"
        raise _invalid(msg)
    message = completion.choices[0].message
    if message.content is None:
        reason = f"the model refused: {message.refusal}" if message.refusal else "the answer had no content"
        raise _invalid(reason)
    extra = completion.model_extra or {}
    sources: dict[str, Source] = {}
    cited_spans: list[tuple[int, int]] = []
    for annotation in message.annotations or []:
        cited = annotation.url_citation
        _add(sources, Source(cited.url, cited.title or None))
        cited_spans.append((cited.start_index, cited.end_index))
    for result in _list(extra.get("search_results")):
        found = cast("dict[str, Any]", result) if isinstance(result, dict) else {}
        if isinstance(url := found.get("url"), str):
            _add(sources, Source(url, _text(found.get("title")), _text(found.get("snippet"))))
    citations = _list(extra.get("citations"))
    for url in citations:
        if isinstance(url, str):
            _add(sources, Source(url))
    text = message.content
    if not request.inline_citations:
        text = _uncited(text, cited_spans, markers=bool(citations))
    usage = completion.usage
    return SearchAnswer(
        answer=text,
        sources=tuple(sources.values()),
        usage=TokenUsage(
            input_tokens=usage.prompt_tokens if usage is not None else 0,
            output_tokens=usage.completion_tokens if usage is not None else 0,
        ),
        model=completion.model or request.model,
    )


def _add(sources: dict[str, Source], found: Source) -> None:
    known = sources.get(found.url)
    if known is None:
        sources[found.url] = found
        return
    sources[found.url] = Source(found.url, known.title or found.title, known.snippet or found.snippet)


def _uncited(text: str, spans: list[tuple[int, int]], *, markers: bool) -> str:
    """`text` without its cited spans (last first, so earlier indices hold) and `[n]` markers."""
    kept_from = len(text)
    for start, end in sorted(spans, reverse=True):
        if 0 <= start < end <= kept_from:  # an overlapping or out-of-range span is left alone
            text = text[:start] + text[end:]
            kept_from = start
    if markers:
        text = _MARKER.sub("", text)
    return _SPACES.sub(" ", _SPACE_BEFORE_PUNCTUATION.sub("", text)).strip()


def _list(value: Any) -> list[Any]:
    return cast("list[Any]", value) if isinstance(value, list) else []


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _us_date(iso: str) -> str:
    """`YYYY-MM-DD` as Perplexity's `M/D/YYYY`."""
    year, month, day = iso.split("-")
    return f"{int(month)}/{int(day)}/{year}"


def _invalid(message: str) -> ProviderError:
    return ProviderError(
        ProviderCode.RESPONSE_INVALID, message, retryable=True, params={"provider": PROVIDER}
    )
