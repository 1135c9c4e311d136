from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask.views import MethodView

from crisis import clock
from crisis.auth import roster as duty
from crisis.auth import service
from crisis.auth.identity import authenticated, bearer_user
from crisis.auth.schemas import (
    MembershipIn,
    MembershipOut,
    MembershipPatch,
    ShiftIn,
    ShiftOut,
    ShiftQuery,
    TokenCreated,
    TokenIn,
    TokenOut,
    UserIn,
    UserOut,
    UserPatch,
)
from crisis.extensions import db
from crisis.http import Blueprint

blp = Blueprint("people_api", __name__, url_prefix="/api/v1", description="Users, roles, duty shifts and tokens")


@blp.route("/me")
@authenticated
@blp.response(200, UserOut)
def me() -> Any:
    """The user the token belongs to."""
    return bearer_user()


@blp.route("/users")
class Users(MethodView):
    decorators = [authenticated]

    @blp.response(200, UserOut(many=True))
    def get(self) -> Any:
        """Users with a role in a unit the caller may see."""
        return service.list_visible(session=db.session, actor=bearer_user())

    @blp.arguments(UserIn)
    @blp.response(201, UserOut)
    def post(self, data: dict[str, Any]) -> Any:
        """Create a user (administrators), optionally with a first role."""
        user = service.create_user(session=db.session, actor=bearer_user(), **data)
        db.session.commit()
        return user


@blp.route("/users/<int:user_id>")
class UserById(MethodView):
    decorators = [authenticated]

    @blp.response(200, UserOut)
    def get(self, user_id: int) -> Any:
        return service.get(session=db.session, actor=bearer_user(), user_id=user_id)

    @blp.arguments(UserPatch)
    @blp.response(200, UserOut)
    def patch(self, changes: dict[str, Any], user_id: int) -> Any:
        """Change a user; `active: false` ends all of their sessions at once."""
        user = service.update_user(session=db.session, actor=bearer_user(), user_id=user_id, changes=changes)
        db.session.commit()
        return user


@blp.route("/users/<int:user_id>/memberships", methods=["POST"])
@authenticated
@blp.arguments(MembershipIn)
@blp.response(201, MembershipOut)
def add_membership(data: dict[str, Any], user_id: int) -> Any:
    """Give a user a role in a unit the caller administers."""
    membership = service.add_membership(session=db.session, actor=bearer_user(), user_id=user_id, **data)
    db.session.commit()
    return membership


@blp.route("/memberships/<int:membership_id>")
class MembershipById(MethodView):
    decorators = [authenticated]

    @blp.arguments(MembershipPatch)
    @blp.response(200, MembershipOut)
    def patch(self, data: dict[str, Any], membership_id: int) -> Any:
        membership = service.change_role(
            session=db.session, actor=bearer_user(), membership_id=membership_id, role=data["role"]
        )
        db.session.commit()
        return membership

    @blp.response(204)
    def delete(self, membership_id: int) -> None:
        service.remove_membership(session=db.session, actor=bearer_user(), membership_id=membership_id)
        db.session.commit()


@blp.route("/duty-shifts")
class Shifts(MethodView):
    decorators = [authenticated]

    @blp.arguments(ShiftQuery, location="query")
    @blp.response(200, ShiftOut(many=True))
    def get(self, query: dict[str, Any]) -> Any:
        """Shifts of a unit overlapping [start, end); the current week by default."""
        start = query["start"] or clock.now() - timedelta(days=1)
        end = query["end"] or start + timedelta(days=8)
        return duty.list_shifts(session=db.session, actor=bearer_user(), unit_id=query["unit_id"], start=start, end=end)

    @blp.arguments(ShiftIn)
    @blp.response(201, ShiftOut)
    def post(self, data: dict[str, Any]) -> Any:
        """Put someone on duty (supervisors, heads, administrators)."""
        shift = duty.create_shift(session=db.session, actor=bearer_user(), **data)
        db.session.commit()
        return shift


@blp.route("/duty-shifts/<int:shift_id>", methods=["DELETE"])
@authenticated
@blp.response(204)
def delete_shift(shift_id: int) -> None:
    duty.delete_shift(session=db.session, actor=bearer_user(), shift_id=shift_id)
    db.session.commit()


@blp.route("/tokens")
class Tokens(MethodView):
    decorators = [authenticated]

    @blp.response(200, TokenOut(many=True))
    def get(self) -> Any:
        return service.list_tokens(session=db.session, user=bearer_user())

    @blp.arguments(TokenIn)
    @blp.response(201, TokenCreated)
    def post(self, data: dict[str, Any]) -> Any:
        """Create a personal token; the response is the only time it is shown."""
        token, plaintext = service.create_token(session=db.session, user=bearer_user(), name=data["name"])
        db.session.commit()
        token.token = plaintext
        return token


@blp.route("/tokens/<int:token_id>", methods=["DELETE"])
@authenticated
@blp.response(204)
def revoke_token(token_id: int) -> None:
    service.revoke_token(session=db.session, user=bearer_user(), token_id=token_id)
    db.session.commit()
