"""Notices: one message to one recipient on one channel, with the per-unit webhooks and the
per-person channel settings they use."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crisis import clock
from crisis.dbtypes import UTCDateTime
from crisis.extensions import db

NOTICE_STATUSES = ("queued", "sent", "failed", "cancelled")
# reminder: crisis.reviews.reminders; info (something waits for the reader): crisis.desk.notices;
# link_broken (a person's chat link stopped working) and key_messages (approved key messages posted
# to a unit's Telegram group): crisis.notify.chat.
# inject: an exercise scenario's inject (crisis.escalation.firing, timer kind "inject").
NOTICE_KINDS = ("deadline", "delivery_failed", "reminder", "info", "link_broken", "key_messages", "inject")


class WebhookEndpoint(db.Model):
    """Where a unit wants its escalations posted as signed JSON (e.g. a chat gateway)."""

    __tablename__ = "webhook_endpoint"

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    url: Mapped[str] = mapped_column(String(2000))
    secret: Mapped[str] = mapped_column(String(128))  # HMAC-SHA256 key of X-Crisis-Signature
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))

    unit = relationship("Unit")


class ChannelPreference(db.Model):
    """A person's choice to receive (or not) notices on a personal channel (email, in-app)."""

    __tablename__ = "channel_preference"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))
    enabled: Mapped[bool] = mapped_column(default=True)

    __table_args__ = (UniqueConstraint("user_id", "channel"),)


LINK_STATES = ("pending", "active", "broken")


class ChatLink(db.Model):
    """A person's address on a chat channel: a Telegram chat, or a WhatsApp number. `pending` (a
    WhatsApp number waiting for its verification code) -> `active` -> `broken` (unlinked, the bot
    blocked, the number gone from WhatsApp). At most one link per person and channel."""

    __tablename__ = "chat_link"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(String(64))  # Telegram chat id, or +62... in E.164
    state: Mapped[str] = mapped_column(String(16), default="pending")
    code_hash: Mapped[str] = mapped_column(String(64), default="")  # WhatsApp verification code (SHA-256)
    code_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    code_tries: Mapped[int] = mapped_column(default=0)
    linked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    broken_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    broken_reason: Mapped[str] = mapped_column(Text, default="")

    user = relationship("User")

    __table_args__ = (
        UniqueConstraint("user_id", "channel"),
        CheckConstraint("state IN ('pending','active','broken')", name="state"),
    )


class ChannelSettings(db.Model):
    """A person's order of channels that reach them (the first working one is used; a notice that
    cannot be delivered falls back to the next) and quiet hours in their own zone, when only
    severity 3-4 reaches them on a chat channel."""

    __tablename__ = "channel_settings"

    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), primary_key=True)
    channel_order: Mapped[list[str]] = mapped_column(JSON, default=list)
    quiet_from: Mapped[str | None] = mapped_column(String(5))  # "22:00", local time
    quiet_until: Mapped[str | None] = mapped_column(String(5))  # "06:00"


class UnitChatGroup(db.Model):
    """A unit's Telegram group: approved key messages of incidents the unit is involved in are posted there."""

    __tablename__ = "unit_chat_group"

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), unique=True)
    chat_id: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200), default="")
    active: Mapped[bool] = mapped_column(default=True)
    linked_at: Mapped[datetime] = mapped_column(UTCDateTime)

    unit = relationship("Unit")


class Notice(db.Model):
    """One message to one recipient on one channel. `queued` -> `sent` | `failed` (| `cancelled` when
    the stage completed before it left). The idempotency key makes a second fire a no-op."""

    __tablename__ = "notice"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), default="deadline")
    idempotency_key: Mapped[str] = mapped_column(String(120), unique=True)
    timer_id: Mapped[int | None] = mapped_column(ForeignKey("timer.id"), index=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id"), index=True)
    about_notice_id: Mapped[int | None] = mapped_column(ForeignKey("notice.id"))  # delivery_failed notices
    channel: Mapped[str] = mapped_column(String(16))
    recipient_user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), index=True)
    webhook_id: Mapped[int | None] = mapped_column(ForeignKey("webhook_endpoint.id"))
    # What the notice says, fixed at fire time: selector, resolved unit, fallback, stage, severity.
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)  # the deadline it stems from
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    enqueued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # last handed to the task queue
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # in-app: opened in the inbox
    # Chat channels: what the service last reported of the message (WhatsApp: sent, delivered, read,
    # failed), when, and the service's reason for a failure.
    remote_status: Mapped[str | None] = mapped_column(String(16))
    remote_status_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))

    timer = relationship("Timer")
    incident = relationship("Incident")
    recipient = relationship("User", foreign_keys=[recipient_user_id])
    acknowledged_by = relationship("User", foreign_keys=[acknowledged_by_id])
    webhook: Mapped[WebhookEndpoint | None] = relationship()
    about: Mapped[Notice | None] = relationship(remote_side=[id])

    __table_args__ = (
        CheckConstraint("status IN ('queued','sent','failed','cancelled')", name="status"),
        # Queued notices the tick re-enqueues (retry due, or lease of the last hand-off expired).
        Index(
            "ix_notice_queued_next_attempt",
            "next_attempt_at",
            postgresql_where=text("status = 'queued'"),
            sqlite_where=text("status = 'queued'"),
        ),
        # The unread badge in every page's header (crisis.escalation.inbox.unread_count).
        Index(
            "ix_notice_inapp_unread",
            "recipient_user_id",
            postgresql_where=text("channel = 'inapp' AND read_at IS NULL"),
            sqlite_where=text("channel = 'inapp' AND read_at IS NULL"),
        ),
    )

    @property
    def lateness_seconds(self) -> float | None:
        if self.sent_at is None:
            return None
        return (self.sent_at - self.due_at).total_seconds()
