from __future__ import annotations

from typing import Any

from flask.views import MethodView

from crisis.auth.identity import authenticated, bearer_user
from crisis.extensions import db
from crisis.http import Blueprint
from crisis.units import service
from crisis.units.schemas import UnitIn, UnitOut, UnitPatch

blp = Blueprint("units_api", __name__, url_prefix="/api/v1/units", description="The unit tree")


@blp.route("")
class Units(MethodView):
    decorators = [authenticated]

    @blp.response(200, UnitOut(many=True))
    def get(self) -> Any:
        """Units the caller may see, in tree order."""
        return service.list_visible(session=db.session, user=bearer_user())

    @blp.arguments(UnitIn)
    @blp.response(201, UnitOut)
    def post(self, data: dict[str, Any]) -> Any:
        """Create a unit under a parent the caller administers."""
        unit = service.create(session=db.session, actor=bearer_user(), **data)
        db.session.commit()
        return unit


@blp.route("/<int:unit_id>")
class UnitById(MethodView):
    decorators = [authenticated]

    @blp.response(200, UnitOut)
    def get(self, unit_id: int) -> Any:
        return service.get(session=db.session, user=bearer_user(), unit_id=unit_id)

    @blp.arguments(UnitPatch)
    @blp.response(200, UnitOut)
    def patch(self, changes: dict[str, Any], unit_id: int) -> Any:
        """Change a unit; moving it under its own descendant is refused."""
        unit = service.update(session=db.session, actor=bearer_user(), unit_id=unit_id, changes=changes)
        db.session.commit()
        return unit
