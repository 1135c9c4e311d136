from __future__ import annotations

from typing import Any

from crisis.auth.identity import authenticated, bearer_user
from crisis.extensions import db
from crisis.http import Blueprint
from crisis.playbooks import service
from crisis.playbooks.schemas import (
    PlaybookOut,
    PlaybookQuery,
    PublishOut,
    ValidationOut,
    VersionDetailOut,
    VersionOut,
    YamlIn,
)

blp = Blueprint("playbooks_api", __name__, url_prefix="/api/v1/playbooks", description="The SOP library")


@blp.route("")
@authenticated
@blp.arguments(PlaybookQuery, location="query")
@blp.response(200, PlaybookOut(many=True))
def list_playbooks(query: dict[str, Any]) -> Any:
    """Playbooks, filtered by category and the severity they apply to."""
    return service.list_playbooks(session=db.session, **query)


@blp.route("", methods=["POST"])
@authenticated
@blp.arguments(YamlIn)
@blp.response(201, PublishOut)
@blp.alt_response(200, schema=PublishOut, description="Unchanged: the current version already has this content")
def publish(data: dict[str, Any]) -> Any:
    """Publish a new immutable version (administrators of a central unit)."""
    result = service.publish(session=db.session, actor=bearer_user(), text=data["yaml"], filename=data["filename"])
    db.session.commit()
    return result, 201 if result.created else 200


@blp.route("/validate", methods=["POST"])
@authenticated
@blp.arguments(YamlIn)
@blp.response(200, ValidationOut)
def validate(data: dict[str, Any]) -> Any:
    """Every problem with its line and column; publishes nothing."""
    problems = service.validate(data["yaml"], data["filename"])
    return {"ok": not problems, "problems": problems}


@blp.route("/<key>")
@authenticated
@blp.response(200, VersionDetailOut)
def current(key: str) -> Any:
    """The newest version of a playbook."""
    return service.get_version(session=db.session, key=key)


@blp.route("/<key>/versions")
@authenticated
@blp.response(200, VersionOut(many=True))
def versions(key: str) -> Any:
    return service.get_by_key(session=db.session, key=key).versions


@blp.route("/<key>/versions/<int:number>")
@authenticated
@blp.response(200, VersionDetailOut)
def version(key: str, number: int) -> Any:
    """A published version, exactly as it was: incidents that ran it refer to it."""
    return service.get_version(session=db.session, key=key, number=number)
