"""Links people paste as evidence or as where something was published: one rule for all of them."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from crisis.i18n import lazy_gettext as _l

MAX_URL_LENGTH = 2000


def url_problem(url: Any) -> Any | None:
    """Why a link cannot be evidence, or None."""
    if not isinstance(url, str) or not url.strip():
        return _l("A link is empty.")
    url = url.strip()
    if len(url) > MAX_URL_LENGTH:
        return _l("A link may be at most %(n)d characters.", n=MAX_URL_LENGTH)
    if any(ch.isspace() for ch in url):
        return _l("A link cannot contain spaces.")
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018  raises ValueError on a bad port
    except ValueError:
        return _l("This is not a valid link.")
    if parts.scheme.lower() not in ("http", "https"):
        return _l("Only http:// and https:// links are accepted.")
    if not host or "." not in host.strip("."):
        return _l("The link has no valid host name.")
    return None
