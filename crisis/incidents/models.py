from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crisis import clock
from crisis.dbtypes import UTCDateTime
from crisis.extensions import db
from crisis.playbooks.snapshot import stage_spec

STATEMENT_KINDS = ("holding", "press_release", "clarification", "key_messages")  # crisis.playbooks.spec's too
# An emergency status of a disaster (BNPB practice): none, or siaga darurat (alert), tanggap darurat
# (response) and transisi darurat ke pemulihan (transition to recovery), each in force until changed.
EMERGENCY_STATUSES = ("none", "alert", "response", "transition")


class Incident(db.Model):
    """An escalated issue running a snapshot of one playbook version."""

    __tablename__ = "incident"

    id: Mapped[int] = mapped_column(primary_key=True)
    issue_id: Mapped[int | None] = mapped_column(ForeignKey("issue.id"), index=True)  # Issue.incident looks it up
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), index=True)  # owning unit
    title: Mapped[str] = mapped_column(String(300))
    severity: Mapped[int] = mapped_column()
    state: Mapped[str] = mapped_column(String(16), default="active")
    commander_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    playbook_version_id: Mapped[int] = mapped_column(ForeignKey("playbook_version.id"))
    # The SOP as it was when the incident opened: editing the playbook never changes a live response.
    playbook_snapshot: Mapped[dict[str, Any]] = mapped_column(JSON)
    opened_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    first_statement_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_update_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # last situation update published
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    state_reason: Mapped[str] = mapped_column(Text, default="")
    # Who speaks for the institution in this response (settings.spokesperson may require one).
    spokesperson_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    # The emergency status in force and since when (as entered: the decree's time); a status ended is
    # `none` with the time it ended, `none` without a time was never declared.
    emergency_status: Mapped[str] = mapped_column(String(16), default="none", server_default="none")
    emergency_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(default=1)
    # An exercise (latihan): the whole machinery runs, every notice says so, the evaluation skips it.
    exercise_id: Mapped[int | None] = mapped_column(ForeignKey("exercise.id"), index=True)

    unit = relationship("Unit")
    issue = relationship("Issue")
    exercise: Mapped[Exercise | None] = relationship(back_populates="incident", foreign_keys=[exercise_id])
    commander = relationship("User", foreign_keys=[commander_id])
    spokesperson = relationship("User", foreign_keys=[spokesperson_id])
    opened_by = relationship("User", foreign_keys=[opened_by_id])
    playbook_version = relationship("PlaybookVersion")
    stage_runs: Mapped[list[StageRun]] = relationship(back_populates="incident", order_by="StageRun.position")
    involved: Mapped[list[InvolvedUnit]] = relationship(back_populates="incident", order_by="InvolvedUnit.id")
    participants: Mapped[list[Participant]] = relationship(back_populates="incident", order_by="Participant.id")
    statements: Mapped[list[Statement]] = relationship(back_populates="incident", order_by="Statement.id")

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        Index("ix_incident_state_started", "state", "started_at"),
        # What waits for a commander (the header's count): their incidents, not the country's.
        Index("ix_incident_commander_id", "commander_id"),
        # The running incidents (a few thousand of a country's tens of thousands), with what the
        # console and the situation room read of them, so their counts and joins need no table reads.
        Index(
            "ix_incident_running",
            "unit_id",
            "severity",
            postgresql_include=[
                "id",
                "playbook_version_id",
                "commander_id",
                "started_at",
                "last_update_at",
                "exercise_id",
            ],
            postgresql_where=text("state = 'active'"),
            sqlite_where=text("state = 'active'"),
        ),
        # The console's open incidents, most severe and oldest first: its first 50 read from here,
        # not sorted out of every running incident of the country.
        Index(
            "ix_incident_open_order",
            text("severity DESC"),
            "started_at",
            "id",
            postgresql_where=text("state = 'active'"),
            sqlite_where=text("state = 'active'"),
        ),
    )

    @property
    def reference(self) -> str:
        # The year where the owning unit is: an incident opened at 00:30 WITA on 1 January is the new year's.
        year = self.started_at.astimezone(ZoneInfo(self.unit.timezone)).year
        return f"INS-{year}-{self.id:05d}"

    @property
    def current_stage(self) -> StageRun | None:
        return next((run for run in self.stage_runs if run.state == "active"), None)

    @property
    def is_open(self) -> bool:
        return self.state == "active"

    @property
    def is_exercise(self) -> bool:
        return self.exercise_id is not None

    @property
    def emergency_in_force(self) -> bool:
        return self.emergency_status != "none"

    @property
    def emergency_ended(self) -> bool:
        """An emergency status was declared and has been ended (cycles `until: emergency_ends` stop)."""
        return self.emergency_status == "none" and self.emergency_since is not None


EXERCISE_RATINGS = ("met", "partly", "not_met")
# First in an exercise's issue and incident title and in every notice and chat message of it: a
# person woken by one never takes it for a real incident. The national term, in either language.
EXERCISE_MARK = "[LATIHAN]"


class Exercise(db.Model):
    """A drill: one incident marked as an exercise, running a scenario version (its snapshot kept
    here, as an incident keeps its playbook's), for one unit or several (the others are involved
    units of its incident). Its evaluation rates each objective; the rest of the after-action report
    is the incident's review (strengths, areas for improvement, action items with owners)."""

    __tablename__ = "exercise"

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), index=True)  # the leading unit
    scenario_version_id: Mapped[int] = mapped_column(ForeignKey("scenario_version.id"))
    scenario_key: Mapped[str] = mapped_column(String(64), index=True)
    playbook_key: Mapped[str] = mapped_column(String(64), index=True)
    scenario_snapshot: Mapped[dict[str, Any]] = mapped_column(JSON)
    unit_ids: Mapped[list[int]] = mapped_column(JSON, default=list)  # every unit taking part
    started_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # {objective key: {"rating": met|partly|not_met, "note": "..."}}
    ratings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    evaluated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    evaluated_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))

    unit = relationship("Unit")
    scenario_version = relationship("ScenarioVersion")
    started_by = relationship("User", foreign_keys=[started_by_id])
    evaluated_by = relationship("User", foreign_keys=[evaluated_by_id])
    incident: Mapped[Incident | None] = relationship(
        back_populates="exercise", foreign_keys="Incident.exercise_id", uselist=False
    )

    @property
    def injects(self) -> list[dict[str, Any]]:
        return list(self.scenario_snapshot.get("injects", []))

    @property
    def objectives(self) -> list[dict[str, Any]]:
        return list(self.scenario_snapshot.get("objectives", []))


class InvolvedUnit(db.Model):
    """Another unit drawn into the response; it sees the incident and publishes shared key messages."""

    __tablename__ = "involved_unit"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), index=True)
    involved_at: Mapped[datetime] = mapped_column(UTCDateTime)
    involved_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    incident: Mapped[Incident] = relationship(back_populates="involved")
    unit = relationship("Unit")


class Participant(db.Model):
    __tablename__ = "participant"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    role: Mapped[str] = mapped_column(String(32), default="member")  # spokesperson, monitoring, liaison...
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)

    incident: Mapped[Incident] = relationship(back_populates="participants")
    user = relationship("User")

    __table_args__ = (UniqueConstraint("incident_id", "user_id"),)


class StageRun(db.Model):
    """One stage of the incident's playbook: target vs actual is measured here."""

    __tablename__ = "stage_run"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id"), index=True)
    position: Mapped[int] = mapped_column()
    stage_key: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default="pending")
    target_seconds: Mapped[int] = mapped_column()  # at the incident's severity when started
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))

    incident: Mapped[Incident] = relationship(back_populates="stage_runs")
    entries: Mapped[list[ChecklistEntry]] = relationship(back_populates="stage_run", order_by="ChecklistEntry.position")

    __table_args__ = (
        UniqueConstraint("incident_id", "position"),
        # The running stages (a few thousand among hundreds of thousands at national scale): overdue
        # counts, the console's soonest deadlines, what waits for a person.
        Index(
            "ix_stage_run_running",
            "incident_id",
            "due_at",
            postgresql_include=["id", "position"],  # position: the stage's title, without a table read
            postgresql_where=text("state = 'active'"),
            sqlite_where=text("state = 'active'"),
        ),
    )

    @property
    def spec(self) -> Any:
        # Parsed once per loaded row: the snapshot and the position never change.
        spec = self.__dict__.get("_spec")
        if spec is None:
            # Through the version's cached snapshot when the engine deferred the column (no query per run).
            spec = self.__dict__["_spec"] = stage_spec(self.incident, self.position)
        return spec

    @property
    def breached(self) -> bool:
        if self.due_at is None:
            return False
        return (self.completed_at or clock.now()) > self.due_at


class ChecklistEntry(db.Model):
    __tablename__ = "checklist_entry"

    id: Mapped[int] = mapped_column(primary_key=True)
    stage_run_id: Mapped[int] = mapped_column(ForeignKey("stage_run.id"), index=True)
    position: Mapped[int] = mapped_column()
    item_key: Mapped[str] = mapped_column(String(64))
    required: Mapped[bool] = mapped_column()
    owner_role: Mapped[str] = mapped_column(String(16))
    evidence_expected: Mapped[bool] = mapped_column(default=False)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    done_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    note: Mapped[str] = mapped_column(Text, default="")
    evidence_url: Mapped[str] = mapped_column(String(2000), default="")
    waived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    waived_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    waive_reason: Mapped[str] = mapped_column(Text, default="")
    # The time this item records (its SOP item says `records: known_at`), as entered and corrected.
    recorded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    stage_run: Mapped[StageRun] = relationship(back_populates="entries")
    assignee = relationship("User", foreign_keys=[assignee_id])

    __table_args__ = (
        # Open unassigned items of a stage by owner role (what waits for a role or a commander).
        Index(
            "ix_checklist_entry_open_unassigned",
            "stage_run_id",
            "owner_role",
            postgresql_where=text("assignee_id IS NULL AND done_at IS NULL AND waived_at IS NULL"),
            sqlite_where=text("assignee_id IS NULL AND done_at IS NULL AND waived_at IS NULL"),
        ),
        # Open items assigned to a person (what waits for them).
        Index(
            "ix_checklist_entry_open_assignee",
            "assignee_id",
            postgresql_where=text("done_at IS NULL AND waived_at IS NULL AND assignee_id IS NOT NULL"),
            sqlite_where=text("done_at IS NULL AND waived_at IS NULL AND assignee_id IS NOT NULL"),
        ),
    )
    done_by = relationship("User", foreign_keys=[done_by_id])
    waived_by = relationship("User", foreign_keys=[waived_by_id])

    @property
    def closed(self) -> bool:
        return self.done_at is not None or self.waived_at is not None


class Comment(db.Model):
    __tablename__ = "incident_comment"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)

    author = relationship("User")


class Statement(db.Model):
    """Holding statement, press release, clarification or key messages: drafted, approved, published;
    an approver may send a draft back with a reason (returned), and editing it makes it a draft again."""

    __tablename__ = "statement"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default="draft")
    drafted_by_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    drafted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # first publication by the owner
    # The latest time an approver sent it back (state "returned" until the author edits it).
    returned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    returned_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    return_reason: Mapped[str] = mapped_column(Text, default="", server_default="")
    # The approval step the statement waits for (its position in the playbook's chain and its role),
    # kept so "waiting for me" finds it in one query; None when it waits for no signature.
    awaiting_step: Mapped[int | None] = mapped_column()
    awaiting_role: Mapped[str | None] = mapped_column(String(16), index=True)
    version: Mapped[int] = mapped_column(default=1)

    incident: Mapped[Incident] = relationship(back_populates="statements")
    drafted_by = relationship("User", foreign_keys=[drafted_by_id])
    approved_by = relationship("User", foreign_keys=[approved_by_id])
    returned_by = relationship("User", foreign_keys=[returned_by_id])
    publications: Mapped[list[Publication]] = relationship(back_populates="statement", order_by="Publication.id")
    signatures: Mapped[list[StatementSignature]] = relationship(
        back_populates="statement", order_by="StatementSignature.id"
    )

    __table_args__ = (
        # Statements that wait for someone (an approver, or their author once sent back).
        Index(
            "ix_statement_waiting",
            "incident_id",
            postgresql_where=text("state IN ('draft', 'submitted', 'returned')"),
            sqlite_where=text("state IN ('draft', 'submitted', 'returned')"),
        ),
        # Approved key messages by incident: which are current (the situation room).
        Index(
            "ix_statement_key_messages",
            "incident_id",
            "id",
            postgresql_where=text("kind = 'key_messages' AND state IN ('approved', 'published')"),
            sqlite_where=text("kind = 'key_messages' AND state IN ('approved', 'published')"),
        ),
    )

    __mapper_args__ = {"version_id_col": version}

    @property
    def current_signatures(self) -> list[StatementSignature]:
        """The signatures of this round (sending it back clears them; they stay on record)."""
        return [s for s in self.signatures if s.cleared_at is None]


class StatementSignature(db.Model):
    """One approval step signed (settings.approval): the step's position in the chain, its role, who
    signed it and when. Sending the statement back clears the round's signatures (cleared_at)."""

    __tablename__ = "statement_signature"

    id: Mapped[int] = mapped_column(primary_key=True)
    statement_id: Mapped[int] = mapped_column(ForeignKey("statement.id"), index=True)
    step: Mapped[int] = mapped_column()
    role: Mapped[str] = mapped_column(String(16))
    signed_by_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    cleared_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    statement: Mapped[Statement] = relationship(back_populates="signatures")
    signed_by = relationship("User")


class Publication(db.Model):
    """Where and when a unit published a statement (the owner's own, or a shared key message)."""

    __tablename__ = "publication"

    id: Mapped[int] = mapped_column(primary_key=True)
    statement_id: Mapped[int] = mapped_column(ForeignKey("statement.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"))
    channel: Mapped[str] = mapped_column(String(32))
    url: Mapped[str] = mapped_column(String(2000), default="")
    published_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    # The incident's spokesperson when the owner published it (None: none designated, or a shared one).
    spokesperson_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))

    statement: Mapped[Statement] = relationship(back_populates="publications")
    unit = relationship("Unit")
    spokesperson = relationship("User", foreign_keys=[spokesperson_id])


MEDIA_OUTLET_TYPES = ("national_tv", "national_print_online", "regional", "international", "community")
MEDIA_CHANNELS = ("phone", "whatsapp", "email", "in_person", "press_conference", "social_media", "other")
MEDIA_QUERY_STATES = ("open", "answered", "declined")
# How a query was answered: with an approved statement or key messages of the incident, or with a
# text approved like a statement.
MEDIA_ANSWER_KINDS = ("statement", "text")


class MediaQuery(db.Model):
    """One journalist's question during an incident: logged, assigned, then answered (with an
    approved statement or an approved text) or declined with the holding line given. `due_at` is
    the answer target: received_at plus the SOP's media_answer_within at the incident's severity,
    or the journalist's own deadline if that is sooner."""

    __tablename__ = "media_query"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id"), index=True)
    journalist: Mapped[str] = mapped_column(String(200))
    outlet: Mapped[str] = mapped_column(String(200))
    outlet_type: Mapped[str] = mapped_column(String(24))
    channel: Mapped[str] = mapped_column(String(24))
    question: Mapped[str] = mapped_column(Text)
    journalist_deadline: Mapped[datetime | None] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    logged_by_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    logged_at: Mapped[datetime] = mapped_column(UTCDateTime)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), index=True)
    assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    state: Mapped[str] = mapped_column(String(16), default="open")
    # A text answer waits for approval once drafted; approving it answers the query.
    answer_kind: Mapped[str | None] = mapped_column(String(16))
    statement_id: Mapped[int | None] = mapped_column(ForeignKey("statement.id"))
    answer_text: Mapped[str] = mapped_column(Text, default="", server_default="")
    answer_drafted_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    answer_approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # answered or declined, as given
    answered_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    decline_reason: Mapped[str] = mapped_column(Text, default="", server_default="")
    holding_line: Mapped[str] = mapped_column(Text, default="", server_default="")
    version: Mapped[int] = mapped_column(default=1)

    incident: Mapped[Incident] = relationship()
    logged_by = relationship("User", foreign_keys=[logged_by_id])
    assignee = relationship("User", foreign_keys=[assignee_id])
    answer_drafted_by = relationship("User", foreign_keys=[answer_drafted_by_id])
    answer_approved_by = relationship("User", foreign_keys=[answer_approved_by_id])
    answered_by = relationship("User", foreign_keys=[answered_by_id])
    statement = relationship("Statement")

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (Index("ix_media_query_state_due", "state", "due_at"),)

    @property
    def is_open(self) -> bool:
        return self.state == "open"

    @property
    def on_time(self) -> bool | None:
        """Answered or declined by its target; None while open."""
        if self.answered_at is None:
            return None
        return self.answered_at <= self.due_at


from crisis.incidents.cycles import CycleRun  # noqa: E402, F401  # its table, with the other models
