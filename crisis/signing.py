"""Signed, expiring tokens for links that are their holder's credential (acknowledgement links,
invitations): the data signed with SECRET_KEY under a salt of each kind's own, and aged by the app's
clock, so a test moves past an expiry instead of waiting. Checking raises itsdangerous's
SignatureExpired (too old) or BadSignature (forged, or of another kind); each caller words them."""

from __future__ import annotations

from typing import Any

from flask import current_app
from itsdangerous import Serializer, TimestampSigner, URLSafeTimedSerializer
from itsdangerous.encoding import base64_encode

from crisis import clock


class _ClockSigner(TimestampSigner):
    def get_timestamp(self) -> int:
        return int(clock.now().timestamp())


class _Serializer(URLSafeTimedSerializer):
    """itsdangerous's URL-safe tokens without trying zlib first: a token of a few fields never comes
    out shorter, and zlib set up its window for every e-mail's acknowledgement link, a third of the
    link's cost. Checking still accepts a compressed token (one issued before)."""

    def dump_payload(self, obj: Any) -> bytes:
        return base64_encode(Serializer.dump_payload(self, obj))


def _serializer(salt: str) -> URLSafeTimedSerializer:
    return _Serializer(current_app.config["SECRET_KEY"], salt=salt, signer=_ClockSigner)


def dumps(salt: str, data: Any) -> str:
    return _serializer(salt).dumps(data)


def loads(salt: str, token: str, *, max_age: int) -> Any:
    return _serializer(salt).loads(token, max_age=max_age)
