from __future__ import annotations

from flask import Blueprint

bp = Blueprint("escalation", __name__)
