"""The in-memory form of a playbook (SOP).

Frozen dataclasses built by the validator from `sops/*.yaml`, the duration and role-selector
parsers, the canonical JSON form stored with each published version, its content hash, a YAML
writer, and plain-language descriptions of escalation steps in Indonesian and English.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import yaml

from crisis.i18n import N_

CATEGORIES = (
    "service_failure",
    "hoax",
    "disaster",
    "data_leak",
    "policy_backlash",
    "official_conduct",
    "public_complaint",
    "other",
)
SEVERITIES = (1, 2, 3, 4)
LANGUAGES = ("id", "en")
OWNER_ROLES = ("officer", "supervisor", "head", "admin", "observer", "commander")
SELECTOR_ROLES = ("officer", "supervisor", "head", "on_duty", "commander")
SELECTOR_SCOPES = ("own", "parent", "province", "central")
UNTIL_VALUES = ("acknowledged", "stage_complete")
# What a stage's target is measured from: its own start, the issue's first-seen time, or a time
# recorded in a checklist item (`records: known_at`).
STAGE_START = "stage_start"
ISSUE_FIRST_SEEN = "issue_first_seen"
ANCHORS = (STAGE_START, ISSUE_FIRST_SEEN)
RECORD_RE = re.compile(r"[a-z][a-z0-9_]{1,39}")
# A repeating stage (`cycle: {every: 6h, until: stage_complete}`) runs cycle after cycle until the
# team completes it (e.g. when the emergency status ends), each cycle measured on its own.
# `emergency_ends`: cycles keep coming while an emergency status (siaga / tanggap / transisi darurat)
# is in force on the incident, and stop when it is ended.
CYCLE_UNTIL = ("stage_complete", "emergency_ends")
# Who signs a statement before it is published (`settings.approval`), in order: `supervisor` is a
# supervisor or head over the owning unit, `head` a head over it, `legal` a legal reviewer of the
# owning unit or above, `leader` the institution head (or delegate) of the owning unit itself.
APPROVAL_ROLES = ("supervisor", "head", "legal", "leader")
STATEMENT_KINDS = ("holding", "press_release", "clarification", "key_messages")
MAX_REPEATS = 100

SLUG_RE = re.compile(r"[a-z0-9][a-z0-9-]{1,62}")
UNIT_CODE_RE = re.compile(r"[A-Z0-9][A-Z0-9._-]{1,31}")

MAX_DURATION = timedelta(days=365)
DEFAULT_UPDATE_EVERY = timedelta(hours=24)
DEFAULT_REVIEW_DUE = timedelta(days=7)
# A journalist's question is answered within this when the playbook sets no media_answer_within.
DEFAULT_MEDIA_ANSWER_WITHIN = timedelta(hours=4)

# [0-9], not \d: \d would also accept Arabic-Indic and other Unicode digits.
_DURATION_RE = re.compile(r"(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?")
_MINUTE = timedelta(minutes=1)
_UNITS = ((1440, "d"), (60, "h"), (1, "m"))
_UNIT_WORDS = {
    "en": (("day", "days"), ("hour", "hours"), ("minute", "minutes")),
    "id": (("hari", "hari"), ("jam", "jam"), ("menit", "menit")),
}

ROLE_NAMES = {
    "officer": {"id": "petugas", "en": "officer"},
    "supervisor": {"id": "supervisor", "en": "supervisor"},
    "head": {"id": "kepala", "en": "head"},
    "on_duty": {"id": "petugas piket", "en": "officer on duty"},
    "commander": {"id": "komandan insiden", "en": "incident commander"},
}
SCOPE_NAMES = {
    "own": {"id": "unit sendiri", "en": "own unit"},
    "parent": {"id": "unit induk", "en": "parent unit"},
    "province": {"id": "provinsi", "en": "province"},
    "central": {"id": "pusat (desk nasional)", "en": "national desk (central)"},
}


def applies(severities: tuple[int, ...], severity: int) -> bool:
    """A severity gate (`severities: [3, 4]` on a stage, item, step or selector): empty means always."""
    return not severities or severity in severities


def shorten(text: str, limit: int = 40) -> str:
    """Cut a quoted value so one bad line cannot flood a message."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- durations ---------------------------------------------------------------------------


def parse_duration(text: str) -> timedelta:
    """Parse `15m`, `1h30m`, `3d` ... into a positive timedelta of at most 365 days.

    Raises ValueError (and nothing else) with a message fit to show to an SOP author.
    """
    if isinstance(text, int) and not isinstance(text, bool):
        raise ValueError(N_("a plain number (%(text)s) is not a duration; write a unit: 15m, 1h or 3d", text=text))
    if not isinstance(text, str):
        raise ValueError(N_("expected a duration such as 15m, 1h or 3d"))
    match = _DURATION_RE.fullmatch(text)
    if match is None or not text:
        rest = text[1:]
        if text.startswith("-") and rest and _DURATION_RE.fullmatch(rest):
            raise ValueError(N_("duration '%(text)s' must be more than zero", text=shorten(text)))
        raise ValueError(
            N_(
                "duration '%(text)s' does not parse; write a number and a unit, e.g. 15m, 1h, 3d or 1h30m",
                text=shorten(text),
            )
        )
    # Checked before int(): a thousand-digit number must not reach timedelta (OverflowError).
    if any(group is not None and len(group) > 9 for group in match.groups()):
        raise ValueError(N_("duration '%(text)s' is longer than the 365-day limit", text=shorten(text)))
    minutes = sum(
        int(group) * size for group, (size, _) in zip(match.groups(), _UNITS, strict=True) if group is not None
    )
    if minutes == 0:
        raise ValueError(N_("duration '%(text)s' must be more than zero", text=shorten(text)))
    if minutes > MAX_DURATION // _MINUTE:
        raise ValueError(N_("duration '%(text)s' is longer than the 365-day limit", text=shorten(text)))
    return timedelta(minutes=minutes)


# --- working days --------------------------------------------------------------------------

WORKING_DAYS_RE = re.compile(r"([0-9]{1,3})wd")
MAX_WORKING_DAYS = 250  # about a year of working days


@dataclass(frozen=True)
class WorkingDays:
    """A span counted in working days (`5wd`): weekends, Indonesian public holidays and the collective
    leave days an administrator entered are skipped, in the owning unit's zone (see
    crisis.playbooks.workdays). Its end depends on where it starts, so it is no timedelta."""

    days: int

    def __str__(self) -> str:
        return f"{self.days}wd"

    def words(self, lang: str) -> str:
        if _check_lang(lang) == "id":
            return f"{self.days} hari kerja"
        return f"{self.days} working day" if self.days == 1 else f"{self.days} working days"

    def localised(self) -> str:
        """In the reader's language (the page's), as timefmt.format_duration shows a timedelta."""
        from crisis.i18n import ngettext

        return str(ngettext("%(num)d working day", "%(num)d working days", self.days))


Span = timedelta | WorkingDays


def parse_span(text: str) -> Span:
    """A duration (`15m`, `1h30m`) or a number of working days (`5wd`)."""
    match = WORKING_DAYS_RE.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        return parse_duration(text)
    days = int(match.group(1))
    if not 1 <= days <= MAX_WORKING_DAYS:
        raise ValueError(
            N_(
                "'%(text)s' must be from 1 to %(max)s working days",
                text=shorten(text),
                max=MAX_WORKING_DAYS,
            )
        )
    return WorkingDays(days)


def format_span(value: Span) -> str:
    return str(value) if isinstance(value, WorkingDays) else format_duration(value)


def _split_minutes(td: timedelta) -> list[tuple[int, int]]:
    """(amount, unit index) pairs of a whole-minute, non-negative timedelta, largest unit first."""
    minutes, remainder = divmod(td, _MINUTE)
    if remainder or minutes < 0:
        raise ValueError(f"{td!r} is not a whole, non-negative number of minutes")
    parts = []
    for index, (size, _) in enumerate(_UNITS):
        amount, minutes = divmod(minutes, size)
        if amount:
            parts.append((amount, index))
    return parts


def format_duration(td: timedelta) -> str:
    """The canonical spelling of a duration: `1h30m`, `3d`, `2d12h`; `0m` for zero."""
    return "".join(f"{amount}{_UNITS[index][1]}" for amount, index in _split_minutes(td)) or "0m"


def format_duration_words(td: timedelta | WorkingDays, lang: str) -> str:
    """`1 hour 30 minutes` (en) or `1 jam 30 menit` (id); `5 hari kerja` for working days."""
    if isinstance(td, WorkingDays):
        return td.words(lang)
    words = _UNIT_WORDS[_check_lang(lang)]
    parts = [f"{amount} {words[index][0] if amount == 1 else words[index][1]}" for amount, index in _split_minutes(td)]
    return " ".join(parts) or f"0 {words[2][1]}"


def _check_lang(lang: str) -> str:
    if lang not in LANGUAGES:
        raise ValueError(f"unknown language {lang!r}; use 'id' or 'en'")
    return lang


# --- role selectors ----------------------------------------------------------------------


@dataclass(frozen=True)
class RoleSelector:
    """Who to notify: a role in a unit found relative to the incident's owning unit."""

    role: str
    scope: str
    severities: tuple[int, ...] = ()  # told only at these severities; empty: at every severity

    def applies_to(self, severity: int) -> bool:
        return applies(self.severities, severity)

    def to_canonical(self) -> str | dict[str, Any]:
        # An ungated selector stays a plain string, so playbooks without gates hash as before.
        if not self.severities:
            return str(self)
        return {"to": str(self), "severities": list(self.severities)}

    @classmethod
    def from_canonical(cls, data: str | dict[str, Any]) -> RoleSelector:
        if isinstance(data, str):
            return parse_selector(data)
        plain = parse_selector(data["to"])
        return cls(plain.role, plain.scope, tuple(data["severities"]))

    @property
    def unit_code(self) -> str | None:
        """The unit code when the scope names a unit, else None."""
        return None if self.scope in SELECTOR_SCOPES else self.scope

    def __str__(self) -> str:
        return f"{self.role}@{self.scope}"


def parse_selector(text: str) -> RoleSelector:
    """Parse `head@province`, `on_duty@central`, `supervisor@JATENG` or the bare `commander`.

    Raises ValueError with a message fit to show to an SOP author.
    """
    if text == "commander":
        return RoleSelector("commander", "own")
    shown = shorten(text)
    role, at, scope = text.partition("@")
    if role not in SELECTOR_ROLES:
        raise ValueError(
            N_(
                "unknown role '%(role)s' in selector '%(selector)s'; use one of %(roles)s",
                role=shorten(role),
                selector=shown,
                roles=", ".join(SELECTOR_ROLES),
            )
        )
    if not at:
        raise ValueError(
            N_(
                "selector '%(selector)s' has no scope; write %(role)s@own, %(role)s@parent, "
                "%(role)s@province, %(role)s@central or %(role)s@<UNIT CODE>",
                selector=shown,
                role=role,
            )
        )
    if scope not in SELECTOR_SCOPES and not UNIT_CODE_RE.fullmatch(scope):
        raise ValueError(
            N_(
                "unknown scope '%(scope)s' in selector '%(selector)s'; "
                "use own, parent, province, central or a unit code such as JATENG",
                scope=shorten(scope),
                selector=shown,
            )
        )
    return RoleSelector(role, scope)


# --- the spec ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Text:
    """A text in both languages of the app: Bahasa Indonesia first, English second."""

    id: str
    en: str

    def get(self, lang: str) -> str:
        return self.id if _check_lang(lang) == "id" else self.en

    def to_canonical(self) -> dict[str, str]:
        return {"id": self.id, "en": self.en}

    @classmethod
    def from_canonical(cls, data: dict[str, str]) -> Text:
        return cls(id=data["id"], en=data["en"])


@dataclass(frozen=True)
class SeverityDurations:
    """A duration that may differ per severity: a default plus per-severity overrides."""

    default: timedelta | WorkingDays | None  # working days only where the format allows (a stage target)
    by_severity: tuple[tuple[int, timedelta | WorkingDays], ...] = ()  # sorted by severity

    def covers(self, severity: int) -> bool:
        """A value exists at this severity (its own or the default)."""
        return self.default is not None or any(level == severity for level, _ in self.by_severity)

    def for_severity(self, severity: int) -> Any:
        for level, value in self.by_severity:
            if level == severity:
                return value
        if self.default is None:
            raise ValueError(f"no duration for severity {severity} and no default")
        return self.default

    def to_canonical(self) -> str | dict[str, str]:
        # A bare default is written as a plain duration so both spellings hash the same.
        if not self.by_severity and self.default is not None:
            return format_span(self.default)
        out = {} if self.default is None else {"default": format_span(self.default)}
        out.update((str(level), format_span(value)) for level, value in self.by_severity)
        return out

    @classmethod
    def from_canonical(cls, data: str | dict[str, str]) -> SeverityDurations:
        if isinstance(data, str):
            return cls(default=parse_span(data))
        default = data.get("default")
        return cls(
            default=None if default is None else parse_span(default),
            by_severity=tuple(sorted((int(k), parse_span(v)) for k, v in data.items() if k != "default")),
        )


def as_durations(value: SeverityDurations | timedelta) -> SeverityDurations:
    """A plain timedelta is the same duration at every severity."""
    return value if isinstance(value, SeverityDurations) else SeverityDurations(default=value)


@dataclass(frozen=True)
class ApprovalStep:
    """One signature a statement needs before it is published: a role, and optionally only at some
    severities (the incident's current one) or for some kinds of statement."""

    role: str
    severities: tuple[int, ...] = ()  # empty: at every severity
    kinds: tuple[str, ...] = ()  # empty: every kind of statement

    def applies_to(self, kind: str, severity: int) -> bool:
        return applies(self.severities, severity) and (not self.kinds or kind in self.kinds)

    def to_canonical(self) -> dict[str, Any]:
        out: dict[str, Any] = {"role": self.role}
        if self.severities:
            out["severities"] = list(self.severities)
        if self.kinds:
            out["kinds"] = list(self.kinds)
        return out

    @classmethod
    def from_canonical(cls, data: dict[str, Any]) -> ApprovalStep:
        return cls(role=data["role"], severities=tuple(data.get("severities", ())), kinds=tuple(data.get("kinds", ())))


# Without `approval` a statement needs a supervisor (or head) over the owning unit, as it always did.
DEFAULT_APPROVAL = (ApprovalStep("supervisor"),)


@dataclass(frozen=True)
class SpokespersonRule:
    """A spokesperson must be designated on the incident before a statement is published at these
    severities (empty: at every severity)."""

    severities: tuple[int, ...] = ()

    def applies_to(self, severity: int) -> bool:
        return applies(self.severities, severity)

    def to_canonical(self) -> dict[str, Any]:
        return _with_severities({}, self.severities)

    @classmethod
    def from_canonical(cls, data: dict[str, Any]) -> SpokespersonRule:
        return cls(severities=tuple(data.get("severities", ())))


@dataclass(frozen=True)
class Settings:
    update_every: SeverityDurations = SeverityDurations(DEFAULT_UPDATE_EVERY)
    review_due: timedelta = DEFAULT_REVIEW_DUE
    approval: tuple[ApprovalStep, ...] = DEFAULT_APPROVAL
    spokesperson: SpokespersonRule | None = None  # None: no spokesperson required before publishing
    media_answer_within: SeverityDurations | None = None  # None: DEFAULT_MEDIA_ANSWER_WITHIN

    def update_every_for(self, severity: int) -> timedelta:
        """How often a situation update is due while an incident of this severity is active."""
        return self.update_every.for_severity(severity)

    def approval_for(self, kind: str, severity: int) -> tuple[tuple[int, ApprovalStep], ...]:
        """The steps (with their position in the chain) a statement of this kind needs at this severity."""
        return tuple((index, step) for index, step in enumerate(self.approval) if step.applies_to(kind, severity))

    def spokesperson_required(self, severity: int) -> bool:
        return self.spokesperson is not None and self.spokesperson.applies_to(severity)

    def media_answer_within_for(self, severity: int) -> timedelta:
        """How soon a journalist's question is to be answered at this severity."""
        if self.media_answer_within is None or not self.media_answer_within.covers(severity):
            return DEFAULT_MEDIA_ANSWER_WITHIN
        return self.media_answer_within.for_severity(severity)

    def to_canonical(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "update_every": self.update_every.to_canonical(),
            "review_due": format_duration(self.review_due),
        }
        # Written only when they differ from the defaults, so older playbooks keep their content hash.
        if self.approval != DEFAULT_APPROVAL:
            out["approval"] = [step.to_canonical() for step in self.approval]
        if self.spokesperson is not None:
            out["spokesperson"] = self.spokesperson.to_canonical()
        if self.media_answer_within is not None:  # written only when set, so older playbooks keep their hash
            out["media_answer_within"] = self.media_answer_within.to_canonical()
        return out

    @classmethod
    def from_canonical(cls, data: dict[str, Any]) -> Settings:
        approval = data.get("approval")
        spokesperson = data.get("spokesperson")
        media = data.get("media_answer_within")
        return cls(
            update_every=SeverityDurations.from_canonical(data["update_every"]),
            review_due=parse_duration(data["review_due"]),
            approval=DEFAULT_APPROVAL if approval is None else tuple(ApprovalStep.from_canonical(s) for s in approval),
            spokesperson=None if spokesperson is None else SpokespersonRule.from_canonical(spokesperson),
            media_answer_within=None if media is None else SeverityDurations.from_canonical(media),
        )


@dataclass(frozen=True)
class ChecklistItemSpec:
    key: str
    text: Text
    required: bool = True
    owner: str = "officer"
    evidence: bool = False
    severities: tuple[int, ...] = ()  # present only at these severities; empty: at every severity
    records: str | None = None  # the name of a time entered with this item (`known_at`), if any

    def applies_to(self, severity: int) -> bool:
        return applies(self.severities, severity)

    def required_at(self, severity: int) -> bool:
        """Required at this severity: marked required and present at it."""
        return self.required and self.applies_to(severity)

    def to_canonical(self) -> dict[str, Any]:
        out = {
            "key": self.key,
            "text": self.text.to_canonical(),
            "required": self.required,
            "owner": self.owner,
            "evidence": self.evidence,
        }
        if self.records is not None:  # written only when set, so other items keep their hash
            out["records"] = self.records
        return _with_severities(out, self.severities)

    @classmethod
    def from_canonical(cls, data: dict[str, Any]) -> ChecklistItemSpec:
        return cls(
            key=data["key"],
            text=Text.from_canonical(data["text"]),
            required=data["required"],
            owner=data["owner"],
            evidence=data["evidence"],
            severities=tuple(data.get("severities", ())),
            records=data.get("records"),
        )


@dataclass(frozen=True)
class RepeatSpec:
    every: SeverityDurations
    max: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "every", as_durations(self.every))

    def every_for(self, severity: int) -> timedelta:
        return self.every.for_severity(severity)

    def to_canonical(self) -> dict[str, Any]:
        return {"every": self.every.to_canonical(), "max": self.max}

    @classmethod
    def from_canonical(cls, data: dict[str, Any]) -> RepeatSpec:
        return cls(every=SeverityDurations.from_canonical(data["every"]), max=data["max"])


@dataclass(frozen=True)
class CycleSpec:
    """A stage measured per cycle: an update is due in every `every` window from the stage's start."""

    every: SeverityDurations
    until: str = "stage_complete"

    def __post_init__(self) -> None:
        object.__setattr__(self, "every", as_durations(self.every))

    def every_for(self, severity: int) -> timedelta:
        return self.every.for_severity(severity)

    def to_canonical(self) -> dict[str, Any]:
        return {"every": self.every.to_canonical(), "until": self.until}

    @classmethod
    def from_canonical(cls, data: dict[str, Any]) -> CycleSpec:
        return cls(every=SeverityDurations.from_canonical(data["every"]), until=data["until"])


@dataclass(frozen=True)
class EscalationStepSpec:
    after: SeverityDurations  # from the stage's start; may differ per severity, as targets do
    notify: tuple[RoleSelector, ...]
    repeat: RepeatSpec | None = None
    until: str = "stage_complete"
    severities: tuple[int, ...] = ()  # planned only at these severities; empty: at every severity

    def __post_init__(self) -> None:
        object.__setattr__(self, "after", as_durations(self.after))

    def applies_to(self, severity: int) -> bool:
        """Planned at this severity: the step's gate lets it through and someone is told at it."""
        return applies(self.severities, severity) and any(s.applies_to(severity) for s in self.notify)

    def after_for(self, severity: int) -> timedelta:
        return self.after.for_severity(severity)

    def notify_for(self, severity: int) -> tuple[RoleSelector, ...]:
        """The selectors told at this severity."""
        return tuple(s for s in self.notify if s.applies_to(severity))

    def to_canonical(self) -> dict[str, Any]:
        out = {
            "after": self.after.to_canonical(),
            "notify": [selector.to_canonical() for selector in self.notify],
            "repeat": None if self.repeat is None else self.repeat.to_canonical(),
            "until": self.until,
        }
        return _with_severities(out, self.severities)

    @classmethod
    def from_canonical(cls, data: dict[str, Any]) -> EscalationStepSpec:
        repeat = data["repeat"]
        return cls(
            after=SeverityDurations.from_canonical(data["after"]),
            notify=tuple(RoleSelector.from_canonical(s) for s in data["notify"]),
            repeat=None if repeat is None else RepeatSpec.from_canonical(repeat),
            until=data["until"],
            severities=tuple(data.get("severities", ())),
        )


def _with_severities(out: dict[str, Any], severities: tuple[int, ...]) -> dict[str, Any]:
    # Written only when gated, so playbooks without gates keep their content hash.
    if severities:
        out["severities"] = list(severities)
    return out


@dataclass(frozen=True)
class StageSpec:
    key: str
    title: Text
    guidance: Text
    target: SeverityDurations
    checklist: tuple[ChecklistItemSpec, ...]
    escalation: tuple[EscalationStepSpec, ...] = ()
    severities: tuple[int, ...] = ()  # run only at these severities; empty: at every severity
    measured_from: str = STAGE_START  # or ISSUE_FIRST_SEEN, or the name an item `records`
    cycle: CycleSpec | None = None  # a repeating stage: measured per cycle; its target is one cycle

    def applies_to(self, severity: int) -> bool:
        """Run at this severity; otherwise the stage is skipped (not run, not measured)."""
        return applies(self.severities, severity)

    def target_for(self, severity: int) -> Span:
        """The time allowed for this stage, from its start, at the given severity: a timedelta, or
        WorkingDays (crisis.playbooks.workdays.add_span turns either into a deadline)."""
        return self.target.for_severity(severity)

    def to_canonical(self) -> dict[str, Any]:
        out = {
            "key": self.key,
            "title": self.title.to_canonical(),
            "guidance": self.guidance.to_canonical(),
            "target": self.target.to_canonical(),
            "checklist": [item.to_canonical() for item in self.checklist],
            "escalation": [step.to_canonical() for step in self.escalation],
        }
        if self.measured_from != STAGE_START:
            out["measured_from"] = self.measured_from
        if self.cycle is not None:
            out["cycle"] = self.cycle.to_canonical()
        return _with_severities(out, self.severities)

    @classmethod
    def from_canonical(cls, data: dict[str, Any]) -> StageSpec:
        return cls(
            key=data["key"],
            title=Text.from_canonical(data["title"]),
            guidance=Text.from_canonical(data["guidance"]),
            target=SeverityDurations.from_canonical(data["target"]),
            checklist=tuple(ChecklistItemSpec.from_canonical(i) for i in data["checklist"]),
            escalation=tuple(EscalationStepSpec.from_canonical(s) for s in data["escalation"]),
            severities=tuple(data.get("severities", ())),
            measured_from=data.get("measured_from", STAGE_START),
            cycle=CycleSpec.from_canonical(data["cycle"]) if data.get("cycle") else None,
        )


@dataclass(frozen=True)
class PlaybookSpec:
    key: str
    title: Text
    description: Text
    category: str
    severities: tuple[int, ...]  # ascending
    settings: Settings
    stages: tuple[StageSpec, ...]

    def to_canonical(self) -> dict[str, Any]:
        """A plain JSON-able dict: defaults filled in, canonical durations, fixed key order."""
        return {
            "key": self.key,
            "title": self.title.to_canonical(),
            "description": self.description.to_canonical(),
            "category": self.category,
            "severities": list(self.severities),
            "settings": self.settings.to_canonical(),
            "stages": [stage.to_canonical() for stage in self.stages],
        }

    def content_hash(self) -> str:
        """sha256 of the canonical JSON: same SOP, same hash, whatever the YAML looked like."""
        text = json.dumps(self.to_canonical(), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    @classmethod
    def from_canonical(cls, data: dict[str, Any]) -> PlaybookSpec:
        """Rebuild from stored canonical JSON (trusted: it was validated before it was stored).

        Malformed data raises KeyError, TypeError or ValueError.
        """
        return cls(
            key=data["key"],
            title=Text.from_canonical(data["title"]),
            description=Text.from_canonical(data["description"]),
            category=data["category"],
            severities=tuple(data["severities"]),
            settings=Settings.from_canonical(data["settings"]),
            stages=tuple(StageSpec.from_canonical(s) for s in data["stages"]),
        )


# --- YAML export -------------------------------------------------------------------------

SCHEMA_COMMENT = "# yaml-language-server: $schema=./schema.json\n"


class _Dumper(yaml.SafeDumper):
    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        # Indent list items under their key, the way people write YAML by hand.
        return super().increase_indent(flow, False)


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    if any(ch in data for ch in "\r\x85\u2028\u2029"):
        # Odd line breaks: PyYAML folds them inside single quotes; double quotes escape them.
        style: str | None = '"'
    elif "\n" in data:
        style = "|"  # multi-line text reads best as a literal block
    elif len(data) > 80:
        style = ">"  # long prose as a folded one
    else:
        style = None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


def _represent_list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.SequenceNode:
    # Short lists of plain values (severities, notify) read best on one line.
    flow = bool(data) and all(isinstance(item, (str, int)) for item in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_Dumper.add_representer(str, _represent_str)
_Dumper.add_representer(list, _represent_list)


def _yaml_severity_map(value: str | dict[str, str]) -> str | dict[Any, str]:
    """Severity keys as YAML integers (`4: 15m`), the form the validator reads."""
    if isinstance(value, str):
        return value
    return {k if k == "default" else int(k): v for k, v in value.items()}


def to_yaml(spec: PlaybookSpec) -> str:
    """A readable YAML file of the spec; validating it gives back the same content hash."""
    data = spec.to_canonical()
    settings = data["settings"]
    settings["update_every"] = _yaml_severity_map(settings["update_every"])
    if "media_answer_within" in settings:
        settings["media_answer_within"] = _yaml_severity_map(settings["media_answer_within"])
    for stage in data["stages"]:
        if "cycle" in stage:  # a cycle stage's target is its cycle, written once
            del stage["target"]
            stage["cycle"]["every"] = _yaml_severity_map(stage["cycle"]["every"])
        else:
            stage["target"] = _yaml_severity_map(stage["target"])
        for step in stage["escalation"]:
            step["after"] = _yaml_severity_map(step["after"])
            if step["repeat"] is None:
                del step["repeat"]
            else:
                step["repeat"]["every"] = _yaml_severity_map(step["repeat"]["every"])
        if not stage["escalation"]:
            del stage["escalation"]
    body = yaml.dump(
        data,
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=96,
    )
    return SCHEMA_COMMENT + body


# --- plain-language escalation steps -----------------------------------------------------


def describe_selector(selector: RoleSelector, lang: str) -> str:
    """`the head of the province` / `kepala provinsi`."""
    role = ROLE_NAMES[selector.role][_check_lang(lang)]
    if selector.role == "commander" and selector.scope == "own":
        return role if lang == "id" else f"the {role}"
    if lang == "id":
        scope = SCOPE_NAMES.get(selector.scope, {}).get("id", f"unit {selector.scope}")
        return f"{role} {scope}"
    scope = SCOPE_NAMES.get(selector.scope, {}).get("en", f"unit {selector.scope}")
    scope = scope if selector.unit_code else f"the {scope}"
    return f"the {role} of {scope}"


def _join(items: list[str], lang: str) -> str:
    last = " dan " if lang == "id" else " and "
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + last + items[-1]


def _durations_words(value: SeverityDurations, lang: str) -> str:
    """`45 minutes (severity 4: 15 minutes)` / `45 menit (keparahan 4: 15 menit)`."""
    word = "keparahan" if lang == "id" else "severity"
    parts = [f"{word} {level}: {format_duration_words(td, lang)}" for level, td in value.by_severity]
    if value.default is None:
        return "; ".join(parts)
    text = format_duration_words(value.default, lang)
    return f"{text} ({'; '.join(parts)})" if parts else text


def _gate_words(severities: tuple[int, ...], lang: str) -> str:
    listed = _join([str(level) for level in severities], lang)
    return f"pada keparahan {listed}" if lang == "id" else f"at severity {listed}"


def describe_step(step: EscalationStepSpec, lang: str) -> str:
    """An escalation step in plain sentences, in Indonesian (id) or English (en)."""
    after = _durations_words(step.after, _check_lang(lang))
    who = _join(
        [
            describe_selector(s, lang) + (f" ({_gate_words(s.severities, lang)})" if s.severities else "")
            for s in step.notify
        ],
        lang,
    )
    if lang == "id":
        text = f"Jika tahap ini belum selesai {after} setelah dimulai, beri tahu {who}"
    else:
        text = f"If this stage is not complete {after} after it starts, notify {who}"
    if step.repeat is not None:
        every = _durations_words(step.repeat.every, lang)
        count = step.repeat.max
        if lang == "id":
            until = "ada yang mengonfirmasi" if step.until == "acknowledged" else "tahap selesai"
            text += f"; ulangi setiap {every}, paling banyak {count} kali, sampai {until}"
        else:
            times = "once" if count == 1 else f"{count} times"
            until = "someone acknowledges" if step.until == "acknowledged" else "the stage is complete"
            text += f"; repeat every {every}, at most {times}, until {until}"
    if step.severities:
        text += f" ({'hanya' if lang == 'id' else 'only'} {_gate_words(step.severities, lang)})"
    return text + "."
