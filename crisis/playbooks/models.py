from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint, event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crisis import clock
from crisis.dbtypes import UTCDateTime
from crisis.extensions import db
from crisis.playbooks.spec import PlaybookSpec


class Playbook(db.Model):
    """An SOP in the library; its content lives in immutable versions."""

    __tablename__ = "playbook"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    # Copied from the newest version so the library can be listed and filtered without JSON.
    category: Mapped[str] = mapped_column(String(32), index=True)
    title_id: Mapped[str] = mapped_column(String(300))
    title_en: Mapped[str] = mapped_column(String(300))
    severities: Mapped[list[int]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)

    versions: Mapped[list[PlaybookVersion]] = relationship(back_populates="playbook", order_by="PlaybookVersion.number")

    @property
    def current(self) -> PlaybookVersion:
        return self.versions[-1]


class PlaybookVersion(db.Model):
    """A published SOP. Never changed once written: incidents pin the version they started with."""

    __tablename__ = "playbook_version"

    id: Mapped[int] = mapped_column(primary_key=True)
    playbook_id: Mapped[int] = mapped_column(ForeignKey("playbook.id"), index=True)
    number: Mapped[int] = mapped_column()
    content_hash: Mapped[str] = mapped_column(String(64))
    canonical: Mapped[dict[str, Any]] = mapped_column(JSON)
    source_yaml: Mapped[str] = mapped_column(Text)
    source_name: Mapped[str] = mapped_column(String(300), default="")
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    published_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))

    playbook: Mapped[Playbook] = relationship(back_populates="versions")
    published_by = relationship("User")

    __table_args__ = (UniqueConstraint("playbook_id", "number"),)

    @property
    def spec(self) -> Any:
        return PlaybookSpec.from_canonical(self.canonical)


class ScenarioVersion(db.Model):
    """A published exercise scenario (sops/exercises/*.yaml), versioned like playbooks: a new
    version only when the content changed; an exercise keeps the version it started with."""

    __tablename__ = "scenario_version"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), index=True)
    number: Mapped[int] = mapped_column()
    playbook_key: Mapped[str] = mapped_column(String(64))
    title_id: Mapped[str] = mapped_column(String(300))
    title_en: Mapped[str] = mapped_column(String(300))
    content_hash: Mapped[str] = mapped_column(String(64))
    canonical: Mapped[dict[str, Any]] = mapped_column(JSON)
    source_yaml: Mapped[str] = mapped_column(Text)
    source_name: Mapped[str] = mapped_column(String(300), default="")
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)

    __table_args__ = (UniqueConstraint("key", "number"),)


@event.listens_for(ScenarioVersion, "before_update")
@event.listens_for(ScenarioVersion, "before_delete")
@event.listens_for(PlaybookVersion, "before_update")
@event.listens_for(PlaybookVersion, "before_delete")
def _immutable(mapper: Any, connection: Any, target: PlaybookVersion) -> None:
    raise RuntimeError("published playbook and scenario versions are immutable")


from crisis.playbooks.workdays import CollectiveLeave  # noqa: E402, F401  # its table, with the other models
