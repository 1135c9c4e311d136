"""Signed, expiring tokens for links that are their holder's credential (acknowledgement links,
invitations): the data signed with SECRET_KEY under a salt of each kind's own, and aged by the app's
clock, so a test moves past an expiry instead of waiting. Checking raises itsdangerous's
SignatureExpired (too old) or BadSignature (forged, or of another kind); each caller words them."""

from __future__ import annotations

import hmac
import json
import struct
from functools import lru_cache
from typing import Any

from flask import current_app
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from itsdangerous.encoding import base64_encode

from crisis import clock


class _ClockSigner(TimestampSigner):
    def get_timestamp(self) -> int:
        return int(clock.now().timestamp())


def _serializer(salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=salt, signer=_ClockSigner)


@lru_cache(maxsize=16)
def _signing_key(secret: str | bytes, salt: str) -> bytes:
    # itsdangerous's own key derivation, once per key and salt (it derives it again for every token).
    return _ClockSigner(secret, salt=salt).derive_key()


def dumps(salt: str, data: Any) -> str:
    """The token `URLSafeTimedSerializer(...).dumps(data)` makes, made directly: every e-mail carries
    one, and itsdangerous's chain of calls (with a zlib attempt that a few fields never win) cost
    more than the rest of the link. `tests/security/test_sessions.py` holds the two to the same bytes;
    `loads` checks with itsdangerous itself."""
    secret = current_app.config["SECRET_KEY"]
    if not isinstance(secret, str | bytes):  # a list of keys (rotation): itsdangerous picks the newest
        return _serializer(salt).dumps(data)
    payload = base64_encode(json.dumps(data, ensure_ascii=False, separators=(",", ":")))
    stamp = base64_encode(struct.pack(">Q", int(clock.now().timestamp())).lstrip(b"\x00"))
    value = payload + b"." + stamp
    signature = base64_encode(hmac.digest(_signing_key(secret, salt), value, "sha1"))
    return (value + b"." + signature).decode("ascii")


def loads(salt: str, token: str, *, max_age: int) -> Any:
    return _serializer(salt).loads(token, max_age=max_age)
