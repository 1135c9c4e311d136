"""Chat links and the order of a person's channels: linking Telegram (signed /start token) and
WhatsApp (a verification code), broken links, quiet hours, falling back to the next channel, and who
in a unit no channel reaches."""

from __future__ import annotations

import hashlib
import logging
import secrets
import smtplib
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import force_locale
from sqlalchemy import select
from sqlalchemy.orm import Session

from crisis import mail
from crisis.auth.models import Membership, User
from crisis.errors import NotPermitted, ValidationFailed
from crisis.i18n import lazy_gettext as _l
from crisis.incidents.models import EXERCISE_MARK
from crisis.notify.channels import CHANNELS, reaching_channel_names
from crisis.notify.models import ChannelPreference, ChannelSettings, ChatLink, Notice, UnitChatGroup
from crisis.timefmt import format_local
from crisis.timeline import service as timeline
from crisis.units import service as units
from crisis.units.models import Unit

log = logging.getLogger(__name__)
QUIET_BREAKTHROUGH_SEVERITY = 3  # severity 3-4 reaches a person in their quiet hours too


class Route(list):  # type: ignore[type-arg]
    """A person's channels for a notice (a list of names), and `quiet`: those to use instead for a
    severity 1-2 notice while the person's quiet hours last (None outside them)."""

    quiet: list[str] | None = None


def for_severity(route: list[str], severity: int | None) -> list[str]:
    quiet = getattr(route, "quiet", None)
    if quiet is not None and (severity or 0) < QUIET_BREAKTHROUGH_SEVERITY:
        return quiet
    return list(route)


def chat_configured() -> bool:
    return any(channel.linked and channel.configured() for channel in CHANNELS.values())


def settings_of(session: Session, user_id: int) -> ChannelSettings:
    return session.get(ChannelSettings, user_id) or ChannelSettings(user_id=user_id, channel_order=[])


def channel_order(settings: ChannelSettings | None) -> list[str]:
    """The person's order of reaching channels, every one of them in it (new ones at their default place)."""
    names = reaching_channel_names()
    chosen = [name for name in (settings.channel_order if settings else None) or [] if name in names]
    return chosen + [name for name in names if name not in chosen]


def _in_quiet_hours(settings: ChannelSettings | None, zone: str, at: datetime | None) -> bool:
    if settings is None or not settings.quiet_from or not settings.quiet_until or at is None:
        return False
    local = at.astimezone(ZoneInfo(zone)).time()
    start, end = time.fromisoformat(settings.quiet_from), time.fromisoformat(settings.quiet_until)
    return start <= local < end if start <= end else local >= start or local < end


def routes(
    session: Session,
    user_ids: list[int],
    enabled: dict[int, dict[str, bool]],
    *,
    at: datetime | None = None,
    zones: dict[int, str] | None = None,
) -> dict[int, Route]:
    """Each person's channels: the in-app inbox (unless turned off) and the first working channel of
    their order (a linked chat, or e-mail unless turned off); only in-app when none works. With no chat
    channel configured this is e-mail and in-app, without a query."""
    links: dict[int, set[str]] = {uid: set() for uid in user_ids}
    settings: dict[int, ChannelSettings] = {}
    if user_ids and chat_configured():
        ids = sorted(set(user_ids))
        for user_id, channel in session.execute(
            select(ChatLink.user_id, ChatLink.channel).where(ChatLink.user_id.in_(ids), ChatLink.state == "active")
        ):
            if CHANNELS.get(channel) is not None and CHANNELS[channel].configured():
                links[user_id].add(channel)
        settings = {
            s.user_id: s for s in session.scalars(select(ChannelSettings).where(ChannelSettings.user_id.in_(ids)))
        }
    result: dict[int, Route] = {}
    for user_id in user_ids:
        chosen = enabled.get(user_id, {})
        mine = settings.get(user_id)
        working = [
            name
            for name in channel_order(mine)
            if (name in links[user_id] if CHANNELS[name].linked else chosen.get(name, True))
        ]
        inapp = ["inapp"] if chosen.get("inapp", True) else []
        route = Route(working[:1] + inapp or ["inapp"])
        if (
            working
            and CHANNELS[working[0]].pushes
            and _in_quiet_hours(mine, (zones or {}).get(user_id, "Asia/Jakarta"), at)
        ):
            calm = [name for name in working if not CHANNELS[name].pushes]
            route.quiet = calm[:1] + inapp or ["inapp"]
        result[user_id] = route
    return result


def working_channels(session: Session, user: User) -> list[str]:
    """The person's reaching channels that work now, in their order (empty: only the inbox reaches them)."""
    enabled = dict(
        session.execute(
            select(ChannelPreference.channel, ChannelPreference.enabled).where(ChannelPreference.user_id == user.id)
        ).all()
    )
    active = {
        link.channel
        for link in session.scalars(select(ChatLink).where(ChatLink.user_id == user.id, ChatLink.state == "active"))
        if CHANNELS.get(link.channel) is not None and CHANNELS[link.channel].configured()
    }
    return [
        name
        for name in channel_order(session.get(ChannelSettings, user.id))
        if (name in active if CHANNELS[name].linked else enabled.get(name, True) and bool(user.email))
    ]


# --- falling back ---------------------------------------------------------------------------------


def fall_back(*, session: Session, notice: Notice, now: datetime) -> Notice | None:
    """A personal notice that failed: the same message on the person's next working channel, queued for
    the engine's sweep. None when there is no next channel or the person already has it on that one."""
    if notice.recipient is None or notice.channel not in reaching_channel_names():
        return None
    order = working_channels(session, notice.recipient)
    later = order[order.index(notice.channel) + 1 :] if notice.channel in order else order
    for channel in later:
        if channel == notice.channel:
            continue
        stem = f"timer:{notice.timer_id}:user:{notice.recipient_user_id}" if notice.timer_id else notice.idempotency_key
        key = f"{stem}:{channel}"
        if session.scalar(select(Notice.id).where(Notice.idempotency_key == key)) is not None:
            return None  # already told on that channel
        replacement = Notice(
            kind=notice.kind,
            idempotency_key=key,
            timer_id=notice.timer_id,
            incident_id=notice.incident_id,
            channel=channel,
            recipient_user_id=notice.recipient_user_id,
            payload={**(notice.payload or {}), "fallback_channel": notice.channel},
            status="queued",
            attempts=0,
            last_error="",
            due_at=notice.due_at,
            queued_at=now,
            next_attempt_at=now,
        )
        session.add(replacement)
        timeline.record(
            session=session,
            kind="notice.fell_back",
            subject_type="incident",
            subject_id=notice.incident_id,
            unit_id=notice.incident.unit_id,
            now=now,
            data={
                "notice_id": notice.id,
                "recipient_user_id": notice.recipient_user_id,
                "from_channel": notice.channel,
                "to_channel": channel,
            },
        )
        session.flush()
        return replacement
    return None


def break_link(
    *, session: Session, user_id: int, channel: str, reason: str, now: datetime, notice: Notice | None = None
) -> ChatLink | None:
    """The link no longer works (the bot blocked, the number gone, or unlinked): marked broken, and the
    person told in the inbox and by e-mail when it happened while delivering a notice (the app shows it
    on their channel settings in any case)."""
    link = session.scalar(select(ChatLink).where(ChatLink.user_id == user_id, ChatLink.channel == channel))
    if link is None or link.state == "broken":
        return link
    link.state, link.broken_at, link.broken_reason = "broken", now, reason[:2000]
    timeline.record(
        session=session,
        kind="chat.link_broken",
        subject_type="user",
        subject_id=user_id,
        now=now,
        data={"channel": channel, "reason": reason[:500]},
    )
    if notice is not None:
        for told_on in ("inapp", "email"):
            session.add(
                Notice(
                    kind="link_broken",
                    idempotency_key=f"link_broken:{link.id}:{int(now.timestamp())}:{told_on}",
                    incident_id=notice.incident_id,
                    channel=told_on,
                    recipient_user_id=user_id,
                    payload={"kind": "link_broken", "channel": channel, "error": reason[:500]},
                    status="sent" if told_on == "inapp" else "queued",
                    attempts=1 if told_on == "inapp" else 0,
                    last_error="",
                    due_at=now,
                    queued_at=now,
                    next_attempt_at=now,
                    sent_at=now if told_on == "inapp" else None,
                )
            )
    session.flush()
    return link


# --- linking --------------------------------------------------------------------------------------


def link_telegram(*, session: Session, user: User, chat_id: str, now: datetime) -> ChatLink:
    link = session.scalar(select(ChatLink).where(ChatLink.user_id == user.id, ChatLink.channel == "telegram"))
    if link is None:
        link = ChatLink(user_id=user.id, channel="telegram", address=chat_id)
        session.add(link)
    link.address, link.state, link.linked_at = chat_id, "active", now
    link.broken_at, link.broken_reason, link.code_hash = None, "", ""
    timeline.record(
        session=session,
        kind="chat.linked",
        subject_type="user",
        subject_id=user.id,
        actor_id=user.id,
        now=now,
        data={"channel": "telegram"},
    )
    session.flush()
    return link


def link_group(*, session: Session, unit_id: int, chat_id: str, title: str, now: datetime) -> UnitChatGroup:
    group = session.scalar(select(UnitChatGroup).where(UnitChatGroup.unit_id == unit_id))
    if group is None:
        group = UnitChatGroup(unit_id=unit_id, chat_id=chat_id, linked_at=now)
        session.add(group)
    group.chat_id, group.title, group.active, group.linked_at = chat_id, title[:200], True, now
    timeline.record(
        session=session,
        kind="chat.group_linked",
        subject_type="unit",
        subject_id=unit_id,
        unit_id=unit_id,
        now=now,
        data={"title": title[:200]},
    )
    session.flush()
    return group


def _code_hash(user_id: int, code: str) -> str:
    return hashlib.sha256(f"{user_id}:{code}".encode()).hexdigest()


def request_whatsapp_code(*, session: Session, user: User, number: str, now: datetime) -> tuple[ChatLink, str]:
    """A pending link for the number and a fresh six-digit code to send; ValidationFailed naming the
    field for anything but +62... in E.164."""
    from crisis.notify.whatsapp import normalise_number

    try:
        address = normalise_number(number)
    except ValueError as error:
        raise ValidationFailed({"number": str(error)}) from error
    code = f"{secrets.randbelow(10**6):06d}"
    link = session.scalar(select(ChatLink).where(ChatLink.user_id == user.id, ChatLink.channel == "whatsapp"))
    if link is None:
        link = ChatLink(user_id=user.id, channel="whatsapp", address=address)
        session.add(link)
    link.address, link.state, link.code_hash, link.code_sent_at, link.code_tries = (
        address,
        "pending",
        _code_hash(user.id, code),
        now,
        0,
    )
    session.flush()
    return link, code


def confirm_whatsapp_code(
    *, session: Session, user: User, code: str, now: datetime, max_age: float, max_tries: int
) -> ChatLink:
    link = session.scalar(select(ChatLink).where(ChatLink.user_id == user.id, ChatLink.channel == "whatsapp"))
    if link is None or link.state != "pending" or link.code_sent_at is None:
        raise ValidationFailed({"code": str(_l("Ask for a code first."))})
    if (now - link.code_sent_at).total_seconds() > max_age or link.code_tries >= max_tries:
        raise ValidationFailed({"code": str(_l("This code has expired. Ask for a new one."))})
    if not secrets.compare_digest(link.code_hash, _code_hash(user.id, (code or "").strip())):
        link.code_tries += 1
        session.flush()
        raise ValidationFailed({"code": str(_l("This code is not the one we sent."))})
    link.state, link.linked_at, link.code_hash, link.broken_at, link.broken_reason = "active", now, "", None, ""
    timeline.record(
        session=session,
        kind="chat.linked",
        subject_type="user",
        subject_id=user.id,
        actor_id=user.id,
        now=now,
        data={"channel": "whatsapp"},
    )
    session.flush()
    return link


def unlink(*, session: Session, user: User, channel: str, now: datetime) -> ChatLink | None:
    return break_link(
        session=session, user_id=user.id, channel=channel, reason=str(_l("Unlinked in the app.")), now=now
    )


def mail_link_ended(user: User, channel: str, *, now: datetime) -> None:
    """Tell the person by e-mail that a chat link ended outside a notice's delivery (unlinked in the
    app, the bot blocked): an unlink they did not make (a borrowed phone) is then noticed. Sent after
    the commit; a failure is logged (the channel settings page shows the broken link in any case)."""
    label = CHANNELS[channel].label
    languages = current_app.config["LANGUAGES"]
    try:
        with force_locale(user.language if user.language in languages else languages[0]):
            message = mail.compose(
                to=[(user.name, user.email)],
                subject=str(_l("Your %(channel)s link was removed", channel=label)),
                text=str(
                    _l(
                        "%(channel)s was unlinked from your crisis account at %(when)s. Escalation notices now go "
                        "to your next channel. If this was not you, sign in and link it again.",
                        channel=label,
                        when=format_local(now, user.timezone),
                    )
                ),
            )
        mail.send(message)
    except (OSError, smtplib.SMTPException):
        log.warning("the e-mail about the ended %s link of user %s could not be sent", channel, user.id, exc_info=True)


def links_of(session: Session, user: User) -> dict[str, ChatLink]:
    return {link.channel: link for link in session.scalars(select(ChatLink).where(ChatLink.user_id == user.id))}


def set_settings(
    *, session: Session, user: User, order: list[str], quiet_from: str, quiet_until: str
) -> ChannelSettings:
    names = reaching_channel_names()
    errors: dict[str, Any] = {}
    if sorted(set(order)) != sorted(order) or any(name not in names for name in order):
        errors["order"] = str(_l("Choose each channel at most once."))
    quiet = []
    for field, value in (("quiet_from", quiet_from), ("quiet_until", quiet_until)):
        value = (value or "").strip()
        if value:
            try:
                time.fromisoformat(value)
            except ValueError:
                errors[field] = str(_l("Give a time of day as HH:MM, e.g. 22:00."))
        quiet.append(value[:5] or None)
    if bool(quiet[0]) != bool(quiet[1]) and not errors:
        errors["quiet_until" if quiet[0] else "quiet_from"] = str(_l("Give both the start and the end of quiet hours."))
    if errors:
        raise ValidationFailed(errors)
    settings = session.get(ChannelSettings, user.id)
    if settings is None:
        settings = ChannelSettings(user_id=user.id)
        session.add(settings)
    settings.channel_order, settings.quiet_from, settings.quiet_until = list(order), quiet[0], quiet[1]
    session.flush()
    return settings


def unreachable_members(*, session: Session, actor: User) -> list[tuple[User, Any]]:
    """People in the units the actor administers whom no channel reaches outside the app (no working
    chat link and no e-mail): shown to the admins before an incident needs them."""
    scope = admin_unit_ids(session, actor)
    if not scope:
        return []
    rows = session.execute(
        select(User, Membership.unit_id)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.unit_id.in_(scope), User.active)
        .order_by(Membership.unit_id, User.name)
    ).all()
    found: list[tuple[User, Any]] = []
    seen: set[int] = set()
    for user, unit_id in rows:
        if user.id in seen:
            continue
        seen.add(user.id)
        if not working_channels(session, user):
            found.append((user, unit_id))
    return found


def admin_unit_ids(session: Session, actor: User) -> list[int]:
    """Ids of the units the actor administers (none unless they are an admin somewhere)."""
    if not units.is_admin_anywhere(actor):
        return []
    scope = units.admin_scope(session=session, user=actor)
    return list(session.scalars(select(Unit.id).where(scope.filter(Unit.id)).order_by(Unit.id)))


def require_unit_admin(*, session: Session, actor: User, unit_id: int) -> None:
    units.get(session=session, user=actor, unit_id=unit_id)
    if unit_id not in units.admin_scope(session=session, user=actor):
        raise NotPermitted(_l("Only administrators of the unit link its Telegram group."))


# --- a unit's Telegram group: approved key messages (one narrative) ---------------------------------

TELEGRAM_TEXT_LIMIT = 4096


def post_key_messages(*, session: Session, statement: Any, incident: Any, now: datetime, **_: Any) -> list[Notice]:
    """Approved key messages, queued as one Telegram message to each involved unit's group (the owner's
    too), sent and retried by the engine like any notice. The units still record their own publication,
    so the publication lag keeps being measured from the approval."""
    from crisis.notify import telegram  # the channel module; imported here as channels imports this one late

    if statement.kind != "key_messages" or not telegram.configured():
        return []
    unit_ids = {incident.unit_id} | {i.unit_id for i in incident.involved if i.released_at is None}
    groups = session.scalars(
        select(UnitChatGroup).where(UnitChatGroup.unit_id.in_(sorted(unit_ids)), UnitChatGroup.active)
    ).all()
    notices = []
    for group in groups:
        from crisis.notify.links import incident_url

        text = "\n\n".join(
            (
                str(
                    _l(
                        "Approved key messages · %(reference)s %(title)s",
                        reference=incident.reference,
                        title=incident.title,
                    )
                ),
                statement.title,
                statement.body,
                str(_l("Record your unit's publication: %(url)s", url=incident_url(incident.id))),
            )
        )
        if incident.exercise_id is not None:  # a drill's key messages never pass for real ones in a group
            text = f"{EXERCISE_MARK} " + str(_l("This is an exercise, not a real incident.")) + "\n\n" + text
        if len(text) > TELEGRAM_TEXT_LIMIT:
            text = text[: TELEGRAM_TEXT_LIMIT - 1] + "…"
        notice = Notice(
            kind="key_messages",
            idempotency_key=f"statement:{statement.id}:group:{group.id}",
            incident_id=incident.id,
            channel="telegram",
            payload={"kind": "key_messages", "chat_id": group.chat_id, "text": text, "unit_code": group.unit.code},
            status="queued",
            attempts=0,
            last_error="",
            due_at=now,
            queued_at=now,
            next_attempt_at=now,
        )
        session.add(notice)
        notices.append(notice)
    session.flush()
    return notices
