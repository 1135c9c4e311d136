from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from flask_login import UserMixin
from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crisis import clock
from crisis.dbtypes import UTCDateTime
from crisis.extensions import db
from crisis.units.models import Unit


class Role(StrEnum):
    officer = "officer"
    supervisor = "supervisor"
    head = "head"
    admin = "admin"
    observer = "observer"
    # Sign statements (crisis.incidents.statements), run no stage: they see the unit's incidents as an
    # observer does. `leader`: the head of the institution (Bupati/Wali Kota, Sekda, Menteri/Sekjen) or
    # the delegate, for the unit's own government; `legal`: a legal reviewer (penelaah hukum).
    legal = "legal"
    leader = "leader"


# Roles that may change things in a unit; observers, legal reviewers and leaders only read (and sign).
ACTING_ROLES = frozenset({Role.officer, Role.supervisor, Role.head, Role.admin})


class User(UserMixin, db.Model):
    __tablename__ = "user"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(255))
    language: Mapped[str] = mapped_column(String(8), default="id")
    phone: Mapped[str] = mapped_column(String(32), default="", server_default="")
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    memberships: Mapped[list[Membership]] = relationship(
        back_populates="user", cascade="all, delete-orphan", order_by="Membership.id"
    )

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return self.active

    @property
    def primary_unit(self) -> Unit | None:
        return self.memberships[0].unit if self.memberships else None

    @property
    def timezone(self) -> str:
        unit = self.primary_unit
        return unit.timezone if unit else "Asia/Jakarta"

    def __repr__(self) -> str:
        return f"<User {self.email}>"


class Membership(db.Model):
    """A user's role in one unit; the role reaches the unit's descendants too."""

    __tablename__ = "membership"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)

    user: Mapped[User] = relationship(back_populates="memberships")
    unit: Mapped[Unit] = relationship()

    __table_args__ = (
        UniqueConstraint("user_id", "unit_id"),
        CheckConstraint("role IN ('officer','supervisor','head','admin','observer','legal','leader')", name="role"),
    )


class ApiToken(db.Model):
    """A personal API token. Only its SHA-256 is stored; the token is shown once."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()


class UserSession(db.Model):
    """The server's half of one signed-in browser. The signed cookie carries a random key; only its
    SHA-256 is stored. No row, no session: signing out deletes this browser's row, a password change
    every other row of the person, disabling the person all of them, so a copied cookie dies with
    the session it was copied from. A row per browser (rather than one counter per person) lets a
    duty officer sign out of a shared office computer and stay signed in on the phone."""

    __tablename__ = "user_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
