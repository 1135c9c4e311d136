"""Post-incident reviews and their action items."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Date, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crisis import clock
from crisis.dbtypes import UTCDateTime
from crisis.extensions import db

REVIEW_STATES = ("draft", "submitted", "approved")
RATINGS = ("performed", "some_challenges", "major_challenges", "not_performed")
ACTION_STATES = ("open", "done", "dropped")


class Review(db.Model):
    """The after-action review of one resolved incident: draft -> submitted -> approved (closes it).

    What was recorded (stages, statements, escalations) is measured afresh from the incident's rows
    each time it is shown; the review itself keeps only what people wrote and decided."""

    __tablename__ = "review"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id"), unique=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), index=True)  # owning unit at resolution
    state: Mapped[str] = mapped_column(String(16), default="draft")
    summary: Mapped[str] = mapped_column(Text, default="")
    went_well: Mapped[str] = mapped_column(Text, default="")
    to_improve: Mapped[str] = mapped_column(Text, default="")
    # The review a bureau files (laporan evaluasi): what the team writes beyond the record.
    background: Mapped[str] = mapped_column(Text, default="", server_default="")
    legal_basis: Mapped[str] = mapped_column(Text, default="", server_default="")
    # Media and social-media analysis, entered by the team: posts before and after the clarification,
    # their tone (issues.models.SENTIMENTS), the dominant narrative, the top accounts.
    volume_before: Mapped[int | None] = mapped_column()
    volume_after: Mapped[int | None] = mapped_column()
    tone_before: Mapped[str] = mapped_column(String(16), default="", server_default="")
    tone_after: Mapped[str] = mapped_column(String(16), default="", server_default="")
    dominant_narrative: Mapped[str] = mapped_column(Text, default="", server_default="")
    top_accounts: Mapped[str] = mapped_column(Text, default="", server_default="")
    # Hoaxes: people the hoax reached and people the clarification reached (the dashboard compares them).
    hoax_reach: Mapped[int | None] = mapped_column()
    clarification_reach: Mapped[int | None] = mapped_column()
    obstacles: Mapped[str] = mapped_column(Text, default="", server_default="")
    recommendations: Mapped[str] = mapped_column(Text, default="", server_default="")
    attachments: Mapped[list[str]] = mapped_column(JSON, default=list)  # http(s) links
    # {stage_key: rating} chosen by the reviewer; a stage absent here keeps its suggested rating.
    stage_ratings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    submitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    # The latest "due soon" reminder sent (crisis.reviews.reminders.REVIEW_THRESHOLDS), each once.
    reminded: Mapped[str] = mapped_column(String(16), default="", server_default="")
    version: Mapped[int] = mapped_column(default=1)

    incident = relationship("Incident")
    unit = relationship("Unit")
    submitted_by = relationship("User", foreign_keys=[submitted_by_id])
    approved_by = relationship("User", foreign_keys=[approved_by_id])
    action_items: Mapped[list[ActionItem]] = relationship(back_populates="review", order_by="ActionItem.id")

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        CheckConstraint("state IN ('draft','submitted','approved')", name="state"),
        Index("ix_review_due_state", "due_at", "state"),
        # Draft reviews (what waits for their writers), by incident.
        Index(
            "ix_review_draft",
            "incident_id",
            postgresql_include=["id"],
            postgresql_where=text("state = 'draft'"),
            sqlite_where=text("state = 'draft'"),
        ),
        # Submitted reviews (what waits for a head's approval): the header counts them on every page.
        Index(
            "ix_review_submitted",
            "due_at",
            postgresql_include=["id"],
            postgresql_where=text("state = 'submitted'"),
            sqlite_where=text("state = 'submitted'"),
        ),
    )


class ActionItem(db.Model):
    """One improvement: what, who, by when (a date in the owning unit's zone), and how it ended."""

    __tablename__ = "action_item"

    id: Mapped[int] = mapped_column(primary_key=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("review.id"), index=True)
    title: Mapped[str] = mapped_column(String(500))
    owner_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    due_on: Mapped[date] = mapped_column(Date)
    # The end of `due_on` in the owning unit's zone, in UTC: "on time" is done_at <= due_at.
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default="open")
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    # Reminders sent to the owner: "due soon" and "overdue", each once.
    reminded_soon_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reminded_overdue_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    review: Mapped[Review] = relationship(back_populates="action_items")
    owner = relationship("User", foreign_keys=[owner_id])

    __table_args__ = (
        CheckConstraint("status IN ('open','done','dropped')", name="status"),
        Index("ix_action_item_status_due", "status", "due_at"),
    )
