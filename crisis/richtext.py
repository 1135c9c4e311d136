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
