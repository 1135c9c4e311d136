"""User-written text on a page: comments, notes, statements, issue descriptions, review text.

Everything is escaped first; the only formatting added is clickable http(s) links (line breaks
stay as written, shown by `white-space: pre-wrap`). The result still goes through the nh3
sanitiser with an allow-list of one tag, so a mistake here cannot become markup that runs.
"""

from __future__ import annotations

import re
from typing import Any

import nh3
from markupsafe import Markup, escape

# In escaped text a link ends at whitespace or at what escaping produced from < > " '.
_LINK = re.compile(r"\bhttps?://[^\s<>\"']+?(?=[.,;:!?)\]]*(?:\s|&lt;|&gt;|&#34;|&#39;|&quot;|$))", re.IGNORECASE)


def user_text(value: Any) -> Markup:
    escaped = str(escape("" if value is None else str(value)))
    linked = _LINK.sub(lambda m: f'<a href="{m.group(0)}">{m.group(0)}</a>', escaped)
    cleaned = nh3.clean(
        linked,
        tags={"a"},
        attributes={"a": {"href"}},
        url_schemes={"http", "https"},
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )
    # Escaped above, then sanitised by nh3 with an allow-list of <a href> (http/https only).
    return Markup(cleaned)  # noqa: S704  # nosec B704


def http_href(url: Any) -> str:
    """A stored link for an href: only http(s); anything else (a row older than today's input
    checks, or written around them) becomes an inert "#"."""
    text = str(url or "").strip()
    return text if text.lower().startswith(("http://", "https://")) else "#"


# Characters that start Markdown (CommonMark + GitHub's tables and strikethrough) anywhere in a
# line, and the markers that only count at its start: headings, quotes, lists.
_MARKDOWN_INLINE = re.compile(r"([\\`*_\[\]<>&|~])")
_MARKDOWN_LINE_START = re.compile(r"^(\s*)(?:([#>+\-=])|(\d+)([.)]))", re.MULTILINE)


def markdown_text(value: Any) -> str:
    """User-written text for a Markdown document, shown as the plain text it is in the app: every
    character that would start emphasis, a link or image, raw HTML, an entity, code, a table cell
    or strikethrough is backslash-escaped, as are heading, quote and list markers at a line's start
    (an ordered list's number by escaping what follows it). Nothing a person wrote becomes markup
    in a Markdown viewer."""
    text = _MARKDOWN_INLINE.sub(r"\\\1", "" if value is None else str(value))
    return _MARKDOWN_LINE_START.sub(_escape_line_start, text)


def _escape_line_start(match: re.Match[str]) -> str:
    indent, marker, number, closer = match.groups()
    return f"{indent}\\{marker}" if marker else f"{indent}{number}\\{closer}"
