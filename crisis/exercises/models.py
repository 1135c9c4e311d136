"""A unit's yearly exercise target (the Exercise row itself is crisis.incidents.models.Exercise:
notices and the engine read it from the incident)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crisis import clock
from crisis.dbtypes import UTCDateTime
from crisis.extensions import db


class ExerciseTarget(db.Model):
    """How many exercises a unit means to run in a year, set by its head."""

    __tablename__ = "exercise_target"

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), index=True)
    year: Mapped[int] = mapped_column()
    target: Mapped[int] = mapped_column()
    set_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    set_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)

    unit = relationship("Unit")
    set_by = relationship("User")

    __table_args__ = (UniqueConstraint("unit_id", "year"),)
