from __future__ import annotations

from datetime import date
from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import format_date
from flask_login import current_user, login_required

from crisis import clock
from crisis.errors import ValidationFailed
from crisis.extensions import db
from crisis.guards import id_arg
from crisis.http import select_locale
from crisis.i18n import _, localised
from crisis.playbooks import service, workdays
from crisis.playbooks.labels import CATEGORY_LABELS, OWNER_LABELS, SEVERITY_LABELS
from crisis.playbooks.spec import CATEGORIES, SEVERITIES, describe_step, format_duration_words

bp = Blueprint("playbooks", __name__, url_prefix="/playbooks")


def _helpers() -> dict[str, Any]:
    lang = select_locale()
    return {
        "lang": lang,
        "words": lambda delta: format_duration_words(delta, lang),
        "describe_step": lambda step: describe_step(step, lang),
        "CATEGORY_LABELS": CATEGORY_LABELS,
        "SEVERITY_LABELS": SEVERITY_LABELS,
        "OWNER_LABELS": OWNER_LABELS,
        "can_publish": service.can_publish(session=db.session, user=current_user),
    }


@bp.route("")
@login_required
def library() -> Any:
    category = request.args.get("category") or None
    severity = request.args.get("severity", type=id_arg)
    if category not in (None, *CATEGORIES) or severity not in (None, *SEVERITIES):
        abort(400)
    playbooks = service.list_playbooks(session=db.session, category=category, severity=severity)
    return render_template(
        "playbooks/library.html",
        playbooks=playbooks,
        category=category,
        severity=severity,
        **_helpers(),
    )


@bp.route("/<key>")
@bp.route("/<key>/v<int:number>")
@login_required
def version(key: str, number: int | None = None) -> Any:
    version = service.get_version(session=db.session, key=key, number=number)
    return render_template(
        "playbooks/version.html",
        version=version,
        spec=version.spec,
        playbook=version.playbook,
        changes=service.version_changes(version),
        previous=service.previous_version(version),
        **_helpers(),
    )


@bp.route("/<key>/v<int:number>.yaml")
@login_required
def version_yaml(key: str, number: int) -> Any:
    version = service.get_version(session=db.session, key=key, number=number)
    return Response(
        service.export_yaml(version),
        mimetype="application/yaml",
        headers={"Content-Disposition": f'attachment; filename="{key}-v{number}.yaml"'},
    )


@bp.route("/publish", methods=["GET", "POST"])
@bp.route("/<key>/edit", methods=["GET", "POST"])
@login_required
def edit(key: str | None = None) -> Any:
    if not service.can_publish(session=db.session, user=current_user):
        abort(403)
    text = service.export_yaml(service.get_version(session=db.session, key=key)) if key else ""
    problems = []
    if request.method == "POST":
        upload = request.files.get("file")
        if upload is not None and upload.filename:
            raw = upload.read()
            try:
                text = raw.decode("utf-8-sig")
            except UnicodeDecodeError:
                text = ""
                flash(_("The file is not UTF-8 text; save it as UTF-8."), "error")
        else:
            text = request.form.get("yaml", "")
        # Editing pins the key through the file name; pasted text may name any key.
        filename = upload.filename if upload is not None and upload.filename else (f"{key}.yaml" if key else "pasted")
        problems = service.validate(text, filename)
        if not problems and request.form.get("action") == "publish":
            result = service.publish(session=db.session, actor=current_user, text=text, filename=filename)
            db.session.commit()
            published = result.version
            if result.created:
                flash(
                    _(
                        "Published %(key)s version %(n)d.",
                        key=published.playbook.key,
                        n=published.number,
                    ),
                    "success",
                )
            else:
                flash(
                    _(
                        "Nothing changed: %(key)s version %(n)d already has this content.",
                        key=published.playbook.key,
                        n=published.number,
                    ),
                    "info",
                )
            return redirect(url_for("playbooks.version", key=published.playbook.key, number=published.number))
        if not problems:
            flash(_("No problems found. Publish when ready."), "success")
    by_line: dict[int, list[str]] = {}
    for problem in problems:
        by_line.setdefault(problem.line, []).append(f"{problem.column}: {localised(problem.message)}")
    return render_template(
        "playbooks/edit.html",
        key=key,
        text=text,
        problems=problems,
        lines=text.splitlines() or [""],
        by_line=by_line,
        **_helpers(),
    )


@bp.route("/holidays", methods=["GET", "POST"])
@login_required
def holidays() -> Any:
    """Collective leave days (cuti bersama), which SOP targets in working days skip: entered by an
    administrator of a central unit, per year, as the joint ministerial decree sets them."""
    if not service.can_publish(session=db.session, user=current_user):
        abort(403)
    errors: dict[str, list[str]] = {}
    form = {"day": "", "name": ""}
    year = request.args.get("year", type=int) or clock.now().year
    if request.method == "POST":
        form = {"day": request.form.get("day", "").strip(), "name": request.form.get("name", "")}
        try:
            day = date.fromisoformat(form["day"])
        except ValueError:
            errors["day"] = [_("Choose a date, e.g. 2026-12-24.")]
        else:
            try:
                if request.form.get("action") == "remove":
                    workdays.remove_leave(session=db.session, day=day, actor=current_user)
                    flash(
                        _("%(day)s removed from the collective leave days.", day=format_date(day, "d MMM yyyy")),
                        "success",
                    )
                else:
                    workdays.add_leave(session=db.session, day=day, name=form["name"], actor=current_user)
                    flash(
                        _(
                            "%(day)s entered as collective leave: %(name)s",
                            day=format_date(day, "d MMM yyyy"),
                            name=form["name"].strip(),
                        ),
                        "success",
                    )
            except ValidationFailed as refused:
                db.session.rollback()
                errors = refused.errors
            else:
                db.session.commit()
                return redirect(url_for("playbooks.holidays", year=day.year))
    return render_template(
        "playbooks/holidays.html",
        year=year,
        days=workdays.list_leave(session=db.session, year=year),
        form=form,
        errors=errors,
        **_helpers(),
    ), (422 if errors else 200)
