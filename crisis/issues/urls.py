"""Evidence links: the key two spellings of one link share, so the same post is recognised however it was pasted."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit

from crisis.links import MAX_URL_LENGTH

TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "msclkid",
        "igshid",
        "igsh",
        "mibextid",
        "si",
        "feature",
        "ref_src",
        "ref_url",
        "_gl",
        "mc_cid",
        "mc_eid",
        "share_id",
        "share_app_id",
        "is_from_webapp",
        "sender_device",
    }
)
HOST_ALIASES = {
    "twitter.com": "x.com",
    "mobile.twitter.com": "x.com",
    "mobile.x.com": "x.com",
    "fb.com": "facebook.com",
}
HOST_TRACKING_PARAMS = {"x.com": frozenset({"s", "t"})}


def normalise_url(url: str) -> str:
    """The key two spellings of one link share: no scheme, no `www.`/`m.`, no tracking parameters,
    no fragment, no trailing slash; host aliases (twitter.com → x.com) resolved; youtu.be expanded."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower().rstrip(".")
    for prefix in ("www.", "m.", "mobile."):
        if host.startswith(prefix) and host.count(".") >= 2:
            host = host[len(prefix) :]
    host = HOST_ALIASES.get(host, host)
    port = parts.port
    if port is not None and port not in (80, 443):
        host = f"{host}:{port}"
    path = parts.path or "/"
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    if host == "youtu.be" and len(path) > 1:
        host, query, path = "youtube.com", [*query, ("v", path.strip("/"))], "/watch"
    drop = HOST_TRACKING_PARAMS.get(host, frozenset())
    query = sorted(
        (k, v) for k, v in query if not k.lower().startswith("utm_") and k.lower() not in TRACKING_PARAMS | drop
    )
    path = path.rstrip("/") or ""
    key = host + path
    if query:
        key += "?" + urlencode(query)
    return key[:MAX_URL_LENGTH]
