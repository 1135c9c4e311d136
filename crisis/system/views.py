from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify

from crisis.extensions import db, limiter
from crisis.system import service

bp = Blueprint("system", __name__)


@bp.route("/healthz")
@limiter.exempt
def healthz() -> Any:
    """The process is up; says nothing about its dependencies."""
    return jsonify(status="ok")


@bp.route("/readyz")
@limiter.exempt
def readyz() -> Any:
    checks = service.readiness(
        session=db.session,
        broker_url=current_app.config.get("BROKER_URL"),
        stale_seconds=current_app.config["SCHEDULER_STALE_SECONDS"],
    )
    response = jsonify(checks)
    response.status_code = 200 if checks["ok"] else 503
    return response
