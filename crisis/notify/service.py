"""Per-person channel preferences, per-unit webhook endpoints, and reminders written as notices."""

from __future__ import annotations

import functools
import secrets
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Integer, any_, bindparam, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from crisis import prepared
from crisis.audit import service as audit
from crisis.auth.models import User
from crisis.errors import NotFound, NotPermitted, ValidationFailed
from crisis.i18n import lazy_gettext as _l
from crisis.notify import chat
from crisis.notify.channels import CHANNELS, personal_channel_names
from crisis.notify.models import ChannelPreference, Notice, WebhookEndpoint
from crisis.timeline import service as timeline
from crisis.units import service as units
from crisis.units.models import Unit


def preferences(*, session: Session, user: User) -> dict[str, bool]:
    """Every personal channel and whether this person receives notices on it (yes by default)."""
    chosen = dict(
        session.execute(
            select(ChannelPreference.channel, ChannelPreference.enabled).where(ChannelPreference.user_id == user.id)
        ).all()
    )
    return {name: chosen.get(name, True) for name in personal_channel_names()}


def set_preferences(*, session: Session, user: User, choices: dict[str, bool]) -> dict[str, bool]:
    unknown = [name for name in choices if name not in personal_channel_names()]
    if unknown:
        raise ValidationFailed({"channels": str(_l("Unknown channel: %(name)s.", name=", ".join(sorted(unknown))))})
    merged = {**preferences(session=session, user=user), **{k: bool(v) for k, v in choices.items()}}
    if not any(merged.values()):
        raise ValidationFailed({"channels": str(_l("Keep at least one channel: escalations must reach you."))})
    existing = {
        p.channel: p for p in session.scalars(select(ChannelPreference).where(ChannelPreference.user_id == user.id))
    }
    for name, enabled in merged.items():
        row = existing.get(name)
        if row is None:
            session.add(ChannelPreference(user_id=user.id, channel=name, enabled=enabled))
        else:
            row.enabled = enabled
    session.flush()
    return merged


def _require_admin(*, session: Session, actor: User, unit_id: int) -> None:
    units.get(session=session, user=actor, unit_id=unit_id)  # 404 when out of sight
    if unit_id not in units.admin_scope(session=session, user=actor):
        raise NotPermitted(_l("Only administrators of the unit configure its webhooks."))


def list_webhooks(*, session: Session, actor: User, unit_id: int) -> list[WebhookEndpoint]:
    _require_admin(session=session, actor=actor, unit_id=unit_id)
    return list(
        session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.unit_id == unit_id).order_by(WebhookEndpoint.id))
    )


def create_webhook(*, session: Session, actor: User, unit_id: int, name: str, url: str) -> WebhookEndpoint:
    """A new endpoint with a fresh signing secret (returned once, on creation)."""
    _require_admin(session=session, actor=actor, unit_id=unit_id)
    errors: dict[str, Any] = {}
    try:
        parts = urlsplit(url or "")
        parts.port  # noqa: B018  raises ValueError on a bad port
    except ValueError:  # e.g. "http://[::1" (unclosed IPv6 literal)
        parts = urlsplit("")
    if parts.scheme not in ("http", "https") or not parts.netloc or len(url) > 2000 or any(c.isspace() for c in url):
        errors["url"] = str(_l("Give an http:// or https:// address."))
    if not (name or "").strip() or len(name) > 100:
        errors["name"] = str(_l("A name of at most 100 characters is required."))
    if errors:
        raise ValidationFailed(errors)
    hook = WebhookEndpoint(
        unit_id=unit_id, name=name.strip(), url=url, secret=secrets.token_urlsafe(32), created_by_id=actor.id
    )
    session.add(hook)
    session.flush()
    timeline.record(
        session=session,
        kind="webhook.created",
        subject_type="unit",
        subject_id=unit_id,
        actor_id=actor.id,
        unit_id=unit_id,
        data={"webhook_id": hook.id, "name": hook.name},
    )
    audit.record(
        session=session,
        kind="webhook.created",
        actor=actor,
        unit_id=unit_id,
        target=f"webhook:{hook.id}",
        detail={"name": hook.name, "host": parts.netloc},
    )  # a webhook's path may itself be a secret
    return hook


def update_webhook(*, session: Session, actor: User, webhook_id: int, active: bool) -> WebhookEndpoint:
    hook = session.get(WebhookEndpoint, webhook_id)
    if hook is None:
        raise NotFound(_l("Webhook not found."))
    _require_admin(session=session, actor=actor, unit_id=hook.unit_id)
    hook.active = active
    timeline.record(
        session=session,
        kind="webhook.updated",
        subject_type="unit",
        subject_id=hook.unit_id,
        actor_id=actor.id,
        unit_id=hook.unit_id,
        data={"webhook_id": hook.id, "active": active},
    )
    audit.record(
        session=session,
        kind="webhook.updated",
        actor=actor,
        unit_id=hook.unit_id,
        target=f"webhook:{hook.id}",
        detail={"name": hook.name, "active": active},
    )
    session.flush()
    return hook


def channel_label(name: str) -> str:
    channel = CHANNELS.get(name)
    return str(channel.label) if channel else name


@functools.cache
def _choices_statement() -> Any:
    # Built once per process: it runs for every firing.
    ids = bindparam("ids", expanding=True)
    return select(ChannelPreference.user_id, ChannelPreference.channel, ChannelPreference.enabled).where(
        ChannelPreference.user_id.in_(ids)
    )


def _choices_any() -> Any:
    """The same, with the ids as one array parameter: the text never changes (crisis.prepared)."""
    ids = bindparam("ids", type_=ARRAY(Integer))
    return select(ChannelPreference.user_id, ChannelPreference.channel, ChannelPreference.enabled).where(
        ChannelPreference.user_id == any_(ids)
    )


def personal_channels(*, session: Session, user: User) -> list[str]:
    """The personal channels a person receives notices on (all by default; in-app if they left none)."""
    return channels_for(session, [user.id])[user.id]


def channels_for(session: Session, user_ids: list[int], *, at: datetime | None = None) -> dict[int, list[str]]:
    """Personal channels of several people in one query: the in-app inbox (unless turned off) and the
    first working channel of each person's order (a linked chat, or e-mail unless turned off). Each
    value is a `chat.Route`: `chat.for_severity(route, severity)` applies quiet hours (at `at`)."""
    choices: dict[int, dict[str, bool]] = {user_id: {} for user_id in user_ids}
    if user_ids:
        ids = sorted(set(user_ids))
        found = (
            prepared.fetch(session, "notify.choices", _choices_any, {"ids": ids})
            if prepared.usable(session)
            else session.execute(_choices_statement(), {"ids": ids})
        )
        for user_id, channel, enabled in found:
            choices[user_id][channel] = enabled
    zones = None
    if at is not None and chat.chat_configured():
        zones = {user.id: user.timezone for user in session.scalars(select(User).where(User.id.in_(list(choices))))}
    return chat.routes(session, list(choices), choices, at=at, zones=zones)  # type: ignore[return-value]


# --- reminders: notices about an item's due date, not a deadline timer (crisis.reviews.reminders) ---


def remind(
    *,
    session: Session,
    user: User,
    incident_id: int,
    key: str,
    payload: dict[str, Any],
    due_at: datetime,
    now: datetime,
) -> list[int]:
    """One reminder to one person on each of their personal channels (the in-app inbox, e-mail unless
    they turned it off), written once: the idempotency key `key:user:<id>:<channel>` makes a second
    call, e.g. another scheduler's, a no-op. In-app notices are delivered by being written; the others
    stay queued for the engine's notice sweep to hand to workers. Returns the ids this call wrote."""
    return _write_personal(
        session=session,
        kind="reminder",
        user=user,
        incident_id=incident_id,
        key=key,
        payload=payload,
        due_at=due_at,
        now=now,
    )


def inform(
    *,
    session: Session,
    user: User,
    incident_id: int,
    key: str,
    payload: dict[str, Any],
    now: datetime,
) -> list[int]:
    """Tell one person that something waits for them (a statement to approve, a review submitted, their
    unit drawn into an incident), as remind() does: each personal channel, once per idempotency key.
    Nothing to acknowledge: the notice links to the thing itself."""
    return _write_personal(
        session=session, kind="info", user=user, incident_id=incident_id, key=key, payload=payload, due_at=now, now=now
    )


def _write_personal(
    *,
    session: Session,
    kind: str,
    user: User,
    incident_id: int,
    key: str,
    payload: dict[str, Any],
    due_at: datetime,
    now: datetime,
) -> list[int]:
    rows = []
    for channel in personal_channels(session=session, user=user):
        immediate = CHANNELS[channel].immediate
        not_set_up = CHANNELS[channel].not_set_up()
        rows.append(
            {
                "kind": kind,
                "idempotency_key": f"{key}:user:{user.id}:{channel}",
                "incident_id": incident_id,
                "channel": channel,
                "recipient_user_id": user.id,
                "payload": payload,
                "status": "sent" if immediate else "cancelled" if not_set_up else "queued",
                "attempts": 1 if immediate else 0,
                "last_error": not_set_up or "",
                "due_at": due_at,
                "queued_at": now,
                "next_attempt_at": now,
                "sent_at": now if immediate else None,
            }
        )
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    statement = insert(Notice).values(rows).on_conflict_do_nothing(index_elements=["idempotency_key"])
    return list(session.scalars(statement.returning(Notice.id)))


def webhook_names(session: Session, references: list[str]) -> dict[str, str]:
    """The audit page's words for "webhook:<id>" targets."""
    ids = audit.ids_of(references)
    if not ids:
        return {}
    rows = session.execute(
        select(WebhookEndpoint.id, WebhookEndpoint.name, Unit.code)
        .join(Unit, Unit.id == WebhookEndpoint.unit_id)
        .where(WebhookEndpoint.id.in_(ids))
    )
    return {
        str(hook_id): str(_l("Webhook “%(name)s” of %(unit)s", name=name, unit=code)) for hook_id, name, code in rows
    }
