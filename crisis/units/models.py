from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crisis import clock
from crisis.dbtypes import UTCDateTime
from crisis.extensions import db


class UnitKind(StrEnum):
    central = "central"
    province = "province"
    regency = "regency"


class Unit(db.Model):
    """A PR unit: the national desk or a ministry bureau, a province, a regency or city."""

    __tablename__ = "unit"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    # The area's Kemendagri code (33 Jawa Tengah, 33.74 Kota Semarang) when the unit serves one: the
    # code itself for units `crisis units import-indonesia` made; a hand-made unit with its own code
    # (JATENG) carries it here, so the import finds it instead of adding the area a second time.
    area_code: Mapped[str | None] = mapped_column(String(8), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"), index=True)
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Jakarta")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)

    parent: Mapped[Unit | None] = relationship(remote_side=[id], back_populates="children")
    children: Mapped[list[Unit]] = relationship(back_populates="parent", order_by="Unit.code")

    __table_args__ = (CheckConstraint("kind IN ('central','province','regency')", name="kind"),)

    def __repr__(self) -> str:
        return f"<Unit {self.code}>"


class DutyShift(db.Model):
    """Who is on duty (petugas piket) in a unit, from starts_at to ends_at (UTC)."""

    __tablename__ = "duty_shift"

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    note: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)

    unit: Mapped[Unit] = relationship()
    user: Mapped["User"] = relationship()  # noqa: F821, UP037

    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        Index("ix_duty_shift_unit_window", "unit_id", "starts_at", "ends_at"),
    )
