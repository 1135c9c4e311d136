from __future__ import annotations

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from wtforms import SelectChoice

from crisis import clock
from crisis.auth import invitations, people_import
from crisis.auth import roster as duty
from crisis.auth import service as people
from crisis.auth.forms import MembershipForm, UserForm
from crisis.auth.labels import ROLE_LABELS
from crisis.auth.models import Role, User
from crisis.auth.views import apply_form_errors
from crisis.errors import ValidationFailed
from crisis.extensions import db
from crisis.guards import id_arg
from crisis.http import flash_refusal
from crisis.i18n import _
from crisis.units import letterhead as letterheads
from crisis.units import service
from crisis.units.forms import RotationForm, ShiftForm, UnitForm
from crisis.units.service import KIND_LABELS

bp = Blueprint("units", __name__)


def _require_admin() -> None:
    if not service.is_admin_anywhere(current_user):
        abort(403)


def _unit_choices(form: UnitForm) -> None:
    visible = service.list_visible(session=db.session, user=current_user)
    form.kind.choices = [SelectChoice(k, str(v)) for k, v in KIND_LABELS.items()]
    form.parent_id.choices = [SelectChoice("", _("— none (root) —"))] + [
        SelectChoice(u.id, "\u2003" * service.depth(u) + f"{u.code} · {u.name}") for u in visible
    ]


@bp.route("/admin/units")
@login_required
def unit_list() -> Any:
    units = service.list_visible(session=db.session, user=current_user)
    admin_scope = service.admin_scope(session=db.session, user=current_user)
    return render_template("units/list.html", units=units, depth=service.depth, admin_scope=admin_scope)


@bp.route("/admin/units/new", methods=["GET", "POST"])
@bp.route("/admin/units/<int:unit_id>/edit", methods=["GET", "POST"])
@login_required
def unit_edit(unit_id: int | None = None) -> Any:
    _require_admin()
    unit = service.get(session=db.session, user=current_user, unit_id=unit_id) if unit_id else None
    form = UnitForm(obj=unit)
    if unit is None and request.method == "GET":
        form.parent_id.data = request.args.get("parent", type=id_arg)
    _unit_choices(form)
    if form.validate_on_submit():
        fields = {
            "code": form.code.data.strip(),
            "name": form.name.data,
            "kind": form.kind.data,
            "parent_id": form.parent_id.data,
            "timezone": form.timezone.data,
        }
        try:
            if unit is None:
                unit = service.create(session=db.session, actor=current_user, **fields)
            else:
                service.update(session=db.session, actor=current_user, unit_id=unit.id, changes=fields)
        except ValidationFailed as error:
            db.session.rollback()
            apply_form_errors(form, error)
        else:
            db.session.commit()
            flash(_("Unit %(code)s saved.", code=unit.code), "success")
            return redirect(url_for("units.unit_list"))
    return render_template(
        "units/edit.html",
        form=form,
        unit=unit,
        letterhead=letterheads.get(session=db.session, unit_id=unit.id) if unit else None,
        letterhead_errors={},
        max_logo_kb=letterheads.MAX_LOGO_BYTES // 1024,
    )


@bp.route("/admin/units/<int:unit_id>/letterhead", methods=["POST"])
@login_required
def unit_letterhead(unit_id: int) -> Any:
    """The letterhead (kop surat) printed on the unit's review PDFs and monthly reports."""
    _require_admin()
    unit = service.get(session=db.session, user=current_user, unit_id=unit_id)
    upload = request.files.get("logo")
    data = upload.read(letterheads.MAX_LOGO_BYTES + 1) if upload and upload.filename else None
    try:
        letterheads.save(
            session=db.session,
            actor=current_user,
            unit_id=unit.id,
            institution=request.form.get("institution", ""),
            address=request.form.get("address", ""),
            logo=data,
            remove_logo=request.form.get("remove_logo") == "y",
        )
    except ValidationFailed as error:
        db.session.rollback()
        form = UnitForm(obj=unit)
        _unit_choices(form)
        return (
            render_template(
                "units/edit.html",
                form=form,
                unit=unit,
                letterhead=letterheads.get(session=db.session, unit_id=unit.id),
                letterhead_errors=error.errors,
                letterhead_input=request.form,
                max_logo_kb=letterheads.MAX_LOGO_BYTES // 1024,
            ),
            422,
        )
    db.session.commit()
    flash(_("Letterhead of %(code)s saved.", code=unit.code), "success")
    return redirect(url_for("units.unit_edit", unit_id=unit.id))


@bp.route("/units/<int:unit_id>/logo")
@login_required
def unit_logo(unit_id: int) -> Any:
    unit = service.get(session=db.session, user=current_user, unit_id=unit_id)
    letterhead = letterheads.get(session=db.session, unit_id=unit.id)
    if letterhead is None or not letterhead.logo:
        return Response(status=204)  # the unit is there, its admin has set no logo
    response = Response(letterhead.logo, mimetype=letterhead.logo_type)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, max-age=300"
    return response


@bp.route("/admin/users")
@login_required
def user_list() -> Any:
    _require_admin()
    return render_template("units/users.html", users=people.list_visible(session=db.session, actor=current_user))


@bp.route("/admin/users/import", methods=["GET", "POST"])
@login_required
def user_import() -> Any:
    """Upload or paste people.csv; "Check" lists every row's problems, "Import" writes all or nothing."""
    _require_admin()
    text, report = "", None
    if request.method == "POST":
        upload = request.files.get("file")
        if upload is not None and upload.filename:
            try:
                text = upload.read().decode("utf-8-sig")
            except UnicodeDecodeError:
                flash(_("The file is not UTF-8 text; save it as UTF-8."), "error")
        else:
            text = request.form.get("csv", "")
        if text.strip():
            dry_run = request.form.get("action") != "import"
            report = people_import.run(session=db.session, actor=current_user, text=text, dry_run=dry_run)
            if report.written:
                db.session.commit()
                flash(
                    _(
                        "Imported: %(created)d people new, %(updated)d updated; %(added)d roles added, "
                        "%(changed)d changed.",
                        created=len(report.created),
                        updated=len(report.updated),
                        added=report.roles_added,
                        changed=report.roles_changed,
                    ),
                    "success",
                )
                if invitations.waiting(session=db.session, emails=sorted(report.created)):
                    return redirect(url_for("units.user_invitations"))
                return redirect(url_for("units.user_list"))
            db.session.rollback()
        elif request.form.get("action"):
            flash(_("Choose a CSV file or paste its text."), "error")
    status = 422 if report is not None and report.problems else 200
    return render_template("units/users_import.html", text=text, report=report, columns=people_import.COLUMNS), status


MAX_INVITATIONS = 500


@bp.route("/admin/users/invitations", methods=["GET", "POST"])
@login_required
def user_invitations() -> Any:
    """People of the admin's units who have no password yet (imported in bulk): invite them. The links
    are shown once, on the answer to "Invite": e-mailed when a mail server is set up, otherwise for the
    admin to hand over."""
    _require_admin()
    scope = service.admin_scope(session=db.session, user=current_user)
    unit_ids = None if scope.everything else set(scope.unit_ids)
    waiting = invitations.waiting(session=db.session, unit_ids=unit_ids)
    sent = None
    if request.method == "POST":
        chosen = request.form.get("user", type=id_arg)
        people_chosen = [u for u in waiting if chosen is None or u.id == chosen][:MAX_INVITATIONS]
        sent = invitations.invite(session=db.session, actor=current_user, people=people_chosen)
        db.session.commit()  # recorded before any link goes out
        sent = invitations.mail(session=db.session, actor=current_user, invitations=sent)
        db.session.commit()
    return render_template(
        "units/users_invitations.html",
        waiting=waiting[:MAX_INVITATIONS],
        more=max(0, len(waiting) - MAX_INVITATIONS),
        sent=sent,
        mail_ready=bool(current_app.config.get("SMTP_HOST")),
        days=invitations.expires_days(),
    )


def _membership_choices(form: Any) -> None:
    admin_scope = service.admin_scope(session=db.session, user=current_user)
    units = [u for u in service.list_visible(session=db.session, user=current_user) if u.id in admin_scope]
    form.unit_id.choices = [SelectChoice(u.id, "\u2003" * service.depth(u) + f"{u.code} · {u.name}") for u in units]
    form.role.choices = [SelectChoice(r.value, str(ROLE_LABELS[r.value])) for r in Role]


@bp.route("/admin/users/new", methods=["GET", "POST"])
@bp.route("/admin/users/<int:user_id>/edit", methods=["GET", "POST"])
@login_required
def user_edit(user_id: int | None = None) -> Any:
    _require_admin()
    user: User | None = people.get(session=db.session, actor=current_user, user_id=user_id) if user_id else None
    form = UserForm(obj=user)
    _membership_choices(form)
    membership_form = MembershipForm(formdata=None)
    _membership_choices(membership_form)
    if form.validate_on_submit():
        try:
            if user is None:
                user = people.create_user(
                    session=db.session,
                    actor=current_user,
                    email=form.email.data,
                    name=form.name.data,
                    password=form.password.data or "",
                    language=form.language.data,
                    unit_id=form.unit_id.data,
                    role=form.role.data,
                )
            else:
                people.update_user(
                    session=db.session,
                    actor=current_user,
                    user_id=user.id,
                    changes={
                        "email": form.email.data,
                        "name": form.name.data,
                        "language": form.language.data,
                        "active": form.active.data,
                    },
                )
        except ValidationFailed as error:
            db.session.rollback()
            apply_form_errors(form, error)
        else:
            db.session.commit()
            flash(_("User %(email)s saved.", email=user.email), "success")
            return redirect(url_for("units.user_edit", user_id=user.id))
    return render_template("units/user_edit.html", form=form, user=user, membership_form=membership_form)


@bp.route("/admin/users/<int:user_id>/memberships", methods=["POST"])
@login_required
def membership_add(user_id: int) -> Any:
    _require_admin()
    form = MembershipForm()
    _membership_choices(form)
    errors: dict[str, list[str]] = {}
    if form.validate_on_submit():
        try:
            people.add_membership(
                session=db.session, actor=current_user, user_id=user_id, unit_id=form.unit_id.data, role=form.role.data
            )
        except ValidationFailed as error:
            db.session.rollback()
            errors = error.errors
        else:
            db.session.commit()
            flash(_("Role added."), "success")
    else:
        errors = {name: list(messages) for name, messages in form.errors.items() if name != "csrf_token"}
    if errors:  # a form on another page: each message names its field by its label
        flash_refusal(ValidationFailed(errors))
    return redirect(url_for("units.user_edit", user_id=user_id))


@bp.route("/admin/memberships/<int:membership_id>", methods=["POST"])
@login_required
def membership_change(membership_id: int) -> Any:
    _require_admin()
    action = request.form.get("action")
    membership = people.membership_or_404(session=db.session, membership_id=membership_id)
    user_id = membership.user_id
    try:
        if action == "remove":
            people.remove_membership(session=db.session, actor=current_user, membership_id=membership_id)
        else:
            people.change_role(
                session=db.session, actor=current_user, membership_id=membership_id, role=request.form.get("role", "")
            )
    except ValidationFailed as error:
        db.session.rollback()
        flash(error.message, "error")
    else:
        db.session.commit()
        flash(_("Role updated."), "success")
    return redirect(url_for("units.user_edit", user_id=user_id))


def _rotation_form(unit: Any, *, bound: bool) -> RotationForm:
    form = RotationForm() if bound else RotationForm(formdata=None)
    form.pattern.choices = [SelectChoice(key, str(label)) for key, label in duty.PATTERN_LABELS.items()]
    form.people.choices = [
        SelectChoice(str(m.user_id), m.user.name) for m in service.members(session=db.session, unit_id=unit.id)
    ]
    return form


def _render_roster(unit: Any, form: ShiftForm, rotation: RotationForm) -> Any:
    zone = ZoneInfo(unit.timezone)
    now = clock.now()
    can_plan = unit.id in service.roster_scope(session=db.session, user=current_user)
    week_start = now.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
    shifts = duty.list_shifts(
        session=db.session, actor=current_user, unit_id=unit.id, start=week_start, end=week_start + timedelta(days=9)
    )
    if rotation.first_day.data is None:
        rotation.first_day.data = (now.astimezone(zone) + timedelta(days=1)).date()
    gaps = duty.gaps(session=db.session, unit=unit, start=now, end=now + timedelta(days=7))
    return render_template(
        "units/roster.html",
        unit=unit,
        shifts=shifts,
        form=form,
        rotation=rotation,
        gaps=gaps,
        can_plan=can_plan,
        now=now,
    )


@bp.route("/units/<int:unit_id>/roster", methods=["GET", "POST"])
@login_required
def roster(unit_id: int) -> Any:
    unit = service.get(session=db.session, user=current_user, unit_id=unit_id)
    zone = ZoneInfo(unit.timezone)
    form = ShiftForm()
    form.user_id.choices = [
        SelectChoice(m.user_id, m.user.name) for m in service.members(session=db.session, unit_id=unit.id)
    ]
    if form.validate_on_submit():
        try:
            # The form's times are wall-clock times in the unit's own zone.
            duty.create_shift(
                session=db.session,
                actor=current_user,
                unit_id=unit.id,
                user_id=form.user_id.data,
                starts_at=form.starts_at.data.replace(tzinfo=zone),
                ends_at=form.ends_at.data.replace(tzinfo=zone),
                note=form.note.data or "",
            )
        except ValidationFailed as error:
            db.session.rollback()
            apply_form_errors(form, error)
        else:
            db.session.commit()
            flash(_("Shift added."), "success")
            return redirect(url_for("units.roster", unit_id=unit.id))
    return _render_roster(unit, form, _rotation_form(unit, bound=False))


@bp.route("/units/<int:unit_id>/roster/rotation", methods=["POST"])
@login_required
def roster_rotation(unit_id: int) -> Any:
    unit = service.get(session=db.session, user=current_user, unit_id=unit_id)
    rotation = _rotation_form(unit, bound=True)
    if rotation.validate_on_submit():
        try:
            added = duty.plan_rotation(
                session=db.session,
                actor=current_user,
                unit_id=unit.id,
                people=[int(user_id) for user_id in rotation.people.data],  # one of the choices
                first_day=rotation.first_day.data,
                weeks=rotation.weeks.data,
                slots=duty.PATTERNS[rotation.pattern.data],
                note=rotation.note.data or "",
            )
        except ValidationFailed as error:
            db.session.rollback()
            apply_form_errors(rotation, error)
        else:
            db.session.commit()
            flash(_("Rotation planned: %(count)d shifts added.", count=len(added)), "success")
            return redirect(url_for("units.roster", unit_id=unit.id))
    form = ShiftForm(formdata=None)
    form.user_id.choices = [SelectChoice(c.value, c.label) for c in rotation.people.choices]
    return _render_roster(unit, form, rotation)


@bp.route("/units/<int:unit_id>/roster/<int:shift_id>/delete", methods=["POST"])
@login_required
def roster_delete(unit_id: int, shift_id: int) -> Any:
    duty.delete_shift(session=db.session, actor=current_user, shift_id=shift_id)
    db.session.commit()
    flash(_("Shift removed."), "success")
    return redirect(url_for("units.roster", unit_id=unit_id))
