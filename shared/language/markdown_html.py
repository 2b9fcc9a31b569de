"""Markdown to HTML for the `markdown` filter and Markdown values in HTML templates (mthds.md §3.2).

Pure.
"""

from __future__ import annotations

import re
from functools import cache

from markdown_it import MarkdownIt
from markdown_it.rules_core import StateCore
from markdown_it.token import Token

_SCHEME_URL = re.compile(r"(?:(?:https?|ftp)://|mailto:)[^\s<>\"'`]+", re.IGNORECASE)

# Punctuation that ends a sentence rather than the URL it follows.
_TRAILING_PUNCTUATION = ".,;:!?'\"*_~"


def _trim_url(url: str) -> str:
    while url and (url[-1] in _TRAILING_PUNCTUATION or (url[-1] == ")" and url.count("(") < url.count(")"))):
        url = url[:-1]
    return url


def _linked_text(parser: MarkdownIt, token: Token) -> list[Token]:
    """Split one text token around the scheme URLs it holds."""
    pieces: list[Token] = []
    cursor = 0
    for match in _SCHEME_URL.finditer(token.content):
        url = _trim_url(match.group(0))
        href = parser.normalizeLink(url)
        if ("://" not in url and "@" not in url) or not parser.validateLink(href):
            continue
        if match.start() > cursor:
            pieces.append(
                Token("text", "", 0, content=token.content[cursor : match.start()], level=token.level)
            )
        pieces.append(Token("link_open", "a", 1, attrs={"href": href}, markup="linkify", info="auto"))
        pieces.append(Token("text", "", 0, content=parser.normalizeLinkText(url), level=token.level + 1))
        pieces.append(Token("link_close", "a", -1, markup="linkify", info="auto"))
        cursor = match.start() + len(url)
    if not pieces:
        return [token]
    if cursor < len(token.content):
        pieces.append(Token("text", "", 0, content=token.content[cursor:], level=token.level))
    return pieces


def _link_scheme_urls(state: StateCore) -> None:
    for block in state.tokens:
        if block.type != "inline" or not block.children:
            continue
        children: list[Token] = []
        link_depth = 0
        for token in block.children:
            link_depth += 1 if token.type == "link_open" else -1 if token.type == "link_close" else 0
            if token.type == "text" and link_depth == 0 and ":" in token.content:
                children.extend(_linked_text(state.md, token))
            else:
                children.append(token)
        block.children = children


@cache
def _parser() -> MarkdownIt:
    # Parsing and rendering keep no state between calls, so one parser serves every thread.
    parser = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])
    parser.core.ruler.push("scheme_urls", _link_scheme_urls)
    return parser


def markdown_to_html(text: str) -> str:
    """Convert Markdown to an HTML fragment that is safe to insert unescaped.

    CommonMark with tables and strikethrough; raw HTML in the source is escaped; bare URLs become links
    only with a scheme (`https://…`, `ftp://…`, `mailto:…`), so `forest.jpg` stays text (markdown-it's
    own linkify would need linkify-it-py and links such names fuzzily).
    """
    return _parser().render(text)
