"""Who is asking: the signed-in person of a page session, or the owner of an API token."""

from __future__ import annotations

from functools import wraps
from typing import Any

from flask import request, session
from flask_login import logout_user
from werkzeug.exceptions import Unauthorized

from crisis.auth import service as people
from crisis.extensions import db


def load_user(identity: str) -> Any:
    """The person of this browser's session, while its server-side row lives (see UserSession)."""
    key = session.get("sid")
    if not identity.isdigit() or not isinstance(key, str):
        return None
    return people.user_for_session(session=db.session, user_id=int(identity), key=key)


def sign_out() -> None:
    """End this browser's session on the server and in its cookie; the caller commits."""
    people.end_session(session=db.session, key=session.get("sid"))
    logout_user()
    session.clear()


def bearer_user() -> Any:
    """The user behind `Authorization: Bearer <token>`, or 401. Cookies never authenticate the
    API, so the API needs no CSRF token."""
    if "crisis.api_user" in request.environ:
        return request.environ["crisis.api_user"]
    header = request.headers.get("Authorization", "")
    scheme, _sep, token = header.partition(" ")
    user = None
    if scheme.lower() == "bearer" and token:
        user = people.user_for_token(session=db.session, plaintext=token.strip())
    if user is None:
        raise Unauthorized("A valid personal API token is required: Authorization: Bearer <token>.")
    request.environ["crisis.api_user"] = user
    return user


def authenticated(view: Any) -> Any:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        bearer_user()
        return view(*args, **kwargs)

    return wrapper
