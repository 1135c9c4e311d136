"""A person's channel settings: the order of channels that reach them, quiet hours, linking Telegram
and WhatsApp; for unit admins, the unit's Telegram group and who no channel reaches."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from crisis import clock
from crisis.errors import ValidationFailed
from crisis.extensions import db
from crisis.i18n import _
from crisis.notify import chat, telegram, whatsapp
from crisis.notify.channels import CHANNELS, DeliveryError, PermanentDeliveryError, reaching_channel_names
from crisis.notify.models import UnitChatGroup
from crisis.units.models import Unit

bp = Blueprint("notify", __name__)


def _page(errors: dict[str, Any] | None = None, values: dict[str, Any] | None = None, status: int = 200) -> Any:
    session = db.session
    settings = chat.settings_of(session, current_user.id)
    admin_units = chat.admin_unit_ids(session, current_user)
    unit_rows = (
        list(session.scalars(select(Unit).where(Unit.id.in_(admin_units)).order_by(Unit.code))) if admin_units else []
    )
    groups = {
        g.unit_id: g for g in session.scalars(select(UnitChatGroup).where(UnitChatGroup.unit_id.in_(admin_units)))
    }
    token = telegram.link_token(kind="u", subject_id=current_user.id) if telegram.configured() else None
    return (
        render_template(
            "notify/channels.html",
            order=chat.channel_order(settings),
            settings=settings,
            labels={name: CHANNELS[name].label for name in reaching_channel_names()},
            links=chat.links_of(session, current_user),
            working=chat.working_channels(session, current_user),
            telegram_on=telegram.configured(),
            whatsapp_on=whatsapp.configured(),
            telegram_url=telegram.start_url(token) if token else None,
            admin_units=unit_rows,
            groups=groups,
            group_url=lambda unit_id: telegram.start_url(telegram.link_token(kind="g", subject_id=unit_id), group=True),
            unreachable=chat.unreachable_members(session=session, actor=current_user),
            unit_names={u.id: u.code for u in session.scalars(select(Unit))} if admin_units else {},
            errors=errors or {},
            values=values or {},
        ),
        status,
    )


@bp.route("/settings/channels", methods=["GET"])
@login_required
def channels() -> Any:
    return _page()


@bp.route("/settings/channels", methods=["POST"])
@login_required
def save_channels() -> Any:
    order = [name for name in request.form.getlist("order") if name]
    values = {"quiet_from": request.form.get("quiet_from", ""), "quiet_until": request.form.get("quiet_until", "")}
    try:
        chat.set_settings(session=db.session, user=current_user, order=order, **values)
    except ValidationFailed as error:
        db.session.rollback()
        return _page({k: v[0] for k, v in error.errors.items()}, values, 422)
    db.session.commit()
    flash(_("Channel settings saved."), "success")
    return redirect(url_for("notify.channels"))


@bp.route("/settings/channels/whatsapp/number", methods=["POST"])
@login_required
def whatsapp_number() -> Any:
    number = request.form.get("number", "")
    values = {"number": number}
    if not whatsapp.configured():
        return _page({"number": _("WhatsApp is not set up on this server.")}, values, 422)
    try:
        link, code = chat.request_whatsapp_code(session=db.session, user=current_user, number=number, now=clock.now())
        whatsapp.api(whatsapp.code_message(link.address, code, current_user.language))
    except ValidationFailed as error:
        db.session.rollback()
        return _page({k: v[0] for k, v in error.errors.items()}, values, 422)
    except DeliveryError as error:
        db.session.rollback()
        message = (
            str(error)
            if isinstance(error, PermanentDeliveryError)
            else _("WhatsApp could not be reached. Try again in a minute.")
        )
        return _page({"number": message}, values, 422)
    db.session.commit()
    flash(_("We sent a code to %(number)s on WhatsApp. Enter it below.", number=link.address), "success")
    return redirect(url_for("notify.channels"))


@bp.route("/settings/channels/whatsapp/code", methods=["POST"])
@login_required
def whatsapp_code() -> Any:
    config = current_app.config
    try:
        chat.confirm_whatsapp_code(
            session=db.session,
            user=current_user,
            code=request.form.get("code", ""),
            now=clock.now(),
            max_age=float(config["WHATSAPP_CODE_MAX_AGE_SECONDS"]),
            max_tries=int(config["WHATSAPP_CODE_MAX_TRIES"]),
        )
    except ValidationFailed as error:
        db.session.commit()  # a wrong try counts
        return _page({k: v[0] for k, v in error.errors.items()}, {}, 422)
    db.session.commit()
    flash(_("WhatsApp is linked: escalation notices can reach you there."), "success")
    return redirect(url_for("notify.channels"))


@bp.route("/settings/channels/<any(telegram, whatsapp):channel>/unlink", methods=["POST"])
@login_required
def unlink(channel: str) -> Any:
    link = chat.unlink(session=db.session, user=current_user, channel=channel, now=clock.now())
    db.session.commit()
    if link is not None:
        chat.mail_link_ended(current_user, channel, now=clock.now())
    flash(
        _("%(channel)s is unlinked: notices go to your next channel.", channel=CHANNELS[channel].label),
        "success",
    )
    return redirect(url_for("notify.channels"))
