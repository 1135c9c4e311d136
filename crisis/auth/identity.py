"""Who is asking: the signed-in person of a page session, or the owner of an API token."""

from __future__ import annotations

from functools import wraps
from typing import Any

from flask import request
from sqlalchemy.orm import joinedload
from werkzeug.exceptions import Unauthorized

from crisis.auth import service as people
from crisis.auth.models import Membership, User
from crisis.extensions import db


def load_user(identity: str) -> Any:
    user_id, _sep, token = identity.partition(":")
    if not user_id.isdigit():
        return None
    # With the memberships and their units: every page's access checks and time zone need them.
    user = db.session.get(User, int(user_id), options=[joinedload(User.memberships).joinedload(Membership.unit)])
    # A rotated session token (password change, disabled account) ends the session.
    if user is None or not user.active or user.session_token != token:
        return None
    return user


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
