"""Signed, expiring tokens for links that are their holder's credential (acknowledgement links,
invitations): the data signed with SECRET_KEY under a salt of each kind's own, and aged by the app's
clock, so a test moves past an expiry instead of waiting. Checking raises itsdangerous's
SignatureExpired (too old) or BadSignature (forged, or of another kind); each caller words them."""

from __future__ import annotations

from typing import Any

from flask import current_app
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from crisis import clock


class _ClockSigner(TimestampSigner):
    def get_timestamp(self) -> int:
        return int(clock.now().timestamp())


def _serializer(salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=salt, signer=_ClockSigner)


def dumps(salt: str, data: Any) -> str:
    return _serializer(salt).dumps(data)


def loads(salt: str, token: str, *, max_age: int) -> Any:
    return _serializer(salt).loads(token, max_age=max_age)
