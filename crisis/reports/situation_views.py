"""The national situation room pages. Thin: check the viewer, count, render."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from crisis import clock
from crisis.extensions import db
from crisis.guards import id_arg
from crisis.http import select_locale
from crisis.playbooks import service as playbooks
from crisis.reports import situation
from crisis.units import service as units

bp = Blueprint("situation", __name__)
POLL_SECONDS = 30


@bp.route("/situation")
@bp.route("/situation/<int:province_id>")
@login_required
def room(province_id: int | None = None) -> Any:
    root = situation.room_root(session=db.session, user=current_user, province_id=province_id)
    if province_id is None and root is not None:
        return redirect(url_for("situation.room", province_id=root.id))
    board = situation.build(session=db.session, root=root, now=clock.now())
    # The live part alone when htmx polls for it.
    template = "reports/_situation_board.html" if request.headers.get("HX-Request") else "reports/situation.html"
    return render_template(
        template,
        room=board,
        states=situation.STATES,
        state_labels=situation.STATE_LABELS,
        poll=POLL_SECONDS,
        readiness=board.readiness,
        playbook_titles=playbooks.titles(session=db.session, lang=select_locale()),
    )


@bp.route("/situation/area/<int:unit_id>/<what>")
@login_required
def behind(unit_id: int, what: str) -> Any:
    if what not in situation.WHATS:
        abort(404)
    if not situation.can_view(session=db.session, user=current_user):
        abort(403)
    area = units.get(session=db.session, user=current_user, unit_id=unit_id)
    page = request.args.get("page", 1, type=id_arg) or 1
    incidents, total = situation.incidents_behind(
        session=db.session, user=current_user, area=area, what=what, now=clock.now(), page=page
    )
    pages = max(1, -(-total // situation.PAGE_SIZE))
    return render_template(
        "reports/situation_list.html",
        area=area,
        what=what,
        what_label=situation.WHAT_LABELS[what],
        incidents=incidents,
        total=total,
        page=page,
        pages=pages,
    )
