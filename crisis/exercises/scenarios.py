"""Exercise scenarios (sops/exercises/*.yaml): the starting issue, the playbook it runs, the
objectives, and the timed injects the deadline engine delivers. Validated like playbooks (every
problem as file:line:column, the same YAML reader), versioned like playbooks (a new immutable
version only when the canonical content changed; an exercise keeps the version it started with)."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from yaml.nodes import Node, ScalarNode, SequenceNode

from crisis.errors import DomainError
from crisis.i18n import N_
from crisis.issues.models import CHANNELS, MAX_COUNT
from crisis.playbooks.models import ScenarioVersion
from crisis.playbooks.spec import (
    CATEGORIES,
    SEVERITIES,
    PlaybookSpec,
    RoleSelector,
    Text,
    format_duration,
    parse_duration,
    shorten,
)
from crisis.playbooks.structure import PlaybookChecker
from crisis.playbooks.validator import validate_file as validate_playbook_file
from crisis.playbooks.yaml_source import INVALID, MAX_BYTES, Problem, read_source, too_big_message
from crisis.timeline import service as timeline

FOLDER = "exercises"  # sops/exercises/
SCENARIO_KEYS = ("key", "title", "description", "playbook", "severity", "issue", "objectives", "injects")
SCENARIO_REQUIRED = ("key", "title", "description", "playbook", "severity", "issue", "objectives", "injects")
ISSUE_KEYS = ("title", "description", "channel", "category", "reach", "engagement", "evidence_url")
ISSUE_REQUIRED = ("title", "description", "channel", "category")
OBJECTIVE_KEYS = ("key", "text", "stage")
OBJECTIVE_REQUIRED = ("key", "text")
INJECT_KEYS = ("at", "text", "notify")
INJECT_REQUIRED = ("at", "text", "notify")
MAX_INJECT_AT = timedelta(days=3)  # a drill is a morning or a day, not a week
MAX_INJECTS = 50


@dataclass(frozen=True)
class Objective:
    key: str
    text: Text
    stage: str | None = None  # a playbook stage whose target this objective is measured against

    def to_canonical(self) -> dict[str, Any]:
        return {"key": self.key, "text": self.text.to_canonical(), "stage": self.stage}


@dataclass(frozen=True)
class Inject:
    at: timedelta
    text: Text
    notify: tuple[RoleSelector, ...]

    def to_canonical(self) -> dict[str, Any]:
        return {
            "at": format_duration(self.at),
            "text": self.text.to_canonical(),
            "notify": [selector.to_canonical() for selector in self.notify],
        }


@dataclass(frozen=True)
class StartingIssue:
    title: Text
    description: Text
    channel: str
    category: str
    reach: int = 0
    engagement: int = 0
    evidence_url: str = ""

    def to_canonical(self) -> dict[str, Any]:
        return {
            "title": self.title.to_canonical(),
            "description": self.description.to_canonical(),
            "channel": self.channel,
            "category": self.category,
            "reach": self.reach,
            "engagement": self.engagement,
            "evidence_url": self.evidence_url,
        }


@dataclass(frozen=True)
class ScenarioSpec:
    key: str
    title: Text
    description: Text
    playbook: str
    severity: int
    issue: StartingIssue
    objectives: tuple[Objective, ...]
    injects: tuple[Inject, ...]

    def to_canonical(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "title": self.title.to_canonical(),
            "description": self.description.to_canonical(),
            "playbook": self.playbook,
            "severity": self.severity,
            "issue": self.issue.to_canonical(),
            "objectives": [o.to_canonical() for o in self.objectives],
            "injects": [i.to_canonical() for i in self.injects],
        }

    def content_hash(self) -> str:
        text = json.dumps(self.to_canonical(), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


def inject_offset(inject: dict[str, Any]) -> timedelta:
    """When a stored (canonical) inject falls, from the exercise's start."""
    return parse_duration(inject["at"])


def inject_selectors(inject: dict[str, Any]) -> list[RoleSelector]:
    return [RoleSelector.from_canonical(s) for s in inject["notify"]]


class ScenarioChecker(PlaybookChecker):
    """Walks one scenario file; the playbooks it may name are given (key → spec)."""

    def __init__(self, filename: str, playbooks: dict[str, PlaybookSpec] | None) -> None:
        super().__init__(filename)
        self.playbooks = playbooks

    def scenario(self, root: Node) -> ScenarioSpec | None:
        found = self.fields(
            root,
            N_("scenario"),
            N_(
                "a mapping at the top level with key, title, description, playbook, severity, issue, "
                "objectives and injects"
            ),
            SCENARIO_KEYS,
            SCENARIO_REQUIRED,
        )
        if found is None:
            return None
        key = self.slug(found["key"], N_("scenario key")) if "key" in found else None
        if key is not None:
            self._check_file_name(found["key"], key)
        title = self.text(found["title"], "title") if "title" in found else None
        description = self.text(found["description"], "description") if "description" in found else None
        playbook = self._playbook(found["playbook"]) if "playbook" in found else None
        severity = self._severity(found["severity"], playbook) if "severity" in found else None
        issue = self._issue(found["issue"]) if "issue" in found else None
        objectives = self._objectives(found["objectives"], playbook) if "objectives" in found else None
        injects = self._injects(found["injects"]) if "injects" in found else None
        if self.problems:
            return None
        assert key and title and description and playbook and severity and issue and objectives and injects  # nosec B101  # no problem: all read
        return ScenarioSpec(
            key=key,
            title=title,
            description=description,
            playbook=playbook.key,
            severity=severity,
            issue=issue,
            objectives=objectives,
            injects=injects,
        )

    def _playbook(self, node: Node) -> PlaybookSpec | _Named | None:
        key = self.slug(node, N_("playbook key"))
        if key is None:
            return None
        if self.playbooks is None:  # nothing to check against: a stand-in with the key only
            return _Named(key)
        spec = self.playbooks.get(key)
        if spec is None:
            self.add(
                node,
                N_(
                    "no playbook '%(key)s' in the library; use one of %(keys)s",
                    key=shorten(key),
                    keys=", ".join(sorted(self.playbooks)),
                ),
            )
        return spec

    def _severity(self, node: Node, playbook: PlaybookSpec | _Named | None) -> int | None:
        value = self.scalar(node) if isinstance(node, ScalarNode) else INVALID
        if not isinstance(value, int) or isinstance(value, bool) or value not in SEVERITIES:
            if value is not INVALID or not isinstance(node, ScalarNode):
                self.expected(node, N_("a severity from 1 to 4"))
            return None
        if isinstance(playbook, PlaybookSpec) and value not in playbook.severities:
            self.add(
                node,
                N_(
                    "playbook '%(key)s' does not apply at severity %(severity)s; it applies at %(list)s",
                    key=playbook.key,
                    severity=value,
                    list=", ".join(map(str, playbook.severities)),
                ),
            )
            return None
        return value

    def _count(self, node: Node, what: str) -> int | None:
        value = self.scalar(node) if isinstance(node, ScalarNode) else INVALID
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_COUNT:
            return value
        if value is not INVALID or not isinstance(node, ScalarNode):
            self.expected(node, N_("a whole number from 0 for %(what)s", what=what))
        return None

    def _issue(self, node: Node) -> StartingIssue | None:
        found = self.fields(
            node,
            N_("issue"),
            N_("a mapping with title, description, channel and category"),
            ISSUE_KEYS,
            ISSUE_REQUIRED,
        )
        if found is None:
            return None
        before = len(self.problems)
        title = self.text(found["title"], "issue title") if "title" in found else None
        description = self.text(found["description"], "issue description") if "description" in found else None
        channel = self.choice(found["channel"], "channel", CHANNELS) if "channel" in found else None
        category = self.choice(found["category"], "category", CATEGORIES) if "category" in found else None
        reach = self._count(found["reach"], "reach") if "reach" in found else 0
        engagement = self._count(found["engagement"], "engagement") if "engagement" in found else 0
        url = ""
        if "evidence_url" in found:
            value = self.scalar(found["evidence_url"]) if isinstance(found["evidence_url"], ScalarNode) else INVALID
            if isinstance(value, str) and value.startswith(("https://", "http://")) and len(value) <= 2000:
                url = value
            elif value is not INVALID:
                self.expected(found["evidence_url"], N_("a link starting with https://"))
        if channel is not None and channel not in ("whatsapp", "hotline") and not url and "evidence_url" not in found:
            self.add(node, N_("an issue seen on %(channel)s needs an evidence_url", channel=channel))
        if len(self.problems) > before or None in (title, description, channel, category, reach, engagement):
            return None
        assert title and description and channel and category  # nosec B101  # type narrowing
        return StartingIssue(title, description, channel, category, reach or 0, engagement or 0, url)

    def _objectives(self, node: Node, playbook: PlaybookSpec | _Named | None) -> tuple[Objective, ...] | None:
        if not isinstance(node, SequenceNode) or not node.value:
            self.expected(node, N_("a list of objectives, each with key and text"))
            return None
        stage_keys = {s.key for s in playbook.stages} if isinstance(playbook, PlaybookSpec) else None
        objectives: list[Objective] = []
        seen: dict[str, int] = {}
        for child in node.value:
            found = self.fields(
                child, N_("objective"), N_("a mapping with key and text"), OBJECTIVE_KEYS, OBJECTIVE_REQUIRED
            )
            if found is None:
                continue
            key = self.slug(found["key"], N_("objective key")) if "key" in found else None
            if key is not None and key in seen:
                self.add(
                    found["key"],
                    N_("duplicate objective key '%(key)s' (first used on line %(line)d)", key=key, line=seen[key]),
                )
                key = None
            elif key is not None:
                seen[key] = found["key"].start_mark.line + 1
            text = self.text(found["text"], "objective text") if "text" in found else None
            stage = None
            if "stage" in found:
                stage = self.slug(found["stage"], N_("stage key"))
                if stage is not None and stage_keys is not None and stage not in stage_keys:
                    self.add(
                        found["stage"],
                        N_(
                            "the playbook has no stage '%(key)s'; use one of %(keys)s",
                            key=stage,
                            keys=", ".join(sorted(stage_keys)),
                        ),
                    )
                    stage = None
            if key and text:
                objectives.append(Objective(key, text, stage))
        return tuple(objectives)

    def _injects(self, node: Node) -> tuple[Inject, ...] | None:
        if not isinstance(node, SequenceNode) or not node.value:
            self.expected(node, N_("a list of injects, each with at, text and notify"))
            return None
        if len(node.value) > MAX_INJECTS:
            self.add(node, N_("more than %(n)d injects; a drill needs fewer", n=MAX_INJECTS))
            return None
        injects: list[Inject] = []
        last: timedelta | None = None
        for child in node.value:
            found = self.fields(
                child, N_("inject"), N_("a mapping with at, text and notify"), INJECT_KEYS, INJECT_REQUIRED
            )
            if found is None:
                continue
            at = self.duration(found["at"], "at") if "at" in found else None
            if at is not None:
                if at <= timedelta(0) or at > MAX_INJECT_AT:
                    self.add(
                        found["at"],
                        N_(
                            "an inject falls after the start and within 3 days; found %(value)s",
                            value=format_duration(at),
                        ),
                    )
                    at = None
                elif last is not None and at < last:
                    self.add(
                        found["at"],
                        N_(
                            "injects are listed in time order; %(value)s comes before the one above it",
                            value=format_duration(at),
                        ),
                    )
                    at = None
                else:
                    last = at
            text = self.text(found["text"], "inject text") if "text" in found else None
            notify = self.notify(found["notify"]) if "notify" in found else None
            if notify is not None and any(s.severities for s in notify):
                self.add(found["notify"], N_("an inject's selectors are not gated by severity; write plain selectors"))
                notify = None
            if at is not None and text and notify:
                injects.append(Inject(at, text, notify))
        return tuple(injects)


@dataclass(frozen=True)
class _Named:
    """A playbook known only by its key (validating one file with no library at hand)."""

    key: str
    stages: tuple[Any, ...] = ()
    severities: tuple[int, ...] = (1, 2, 3, 4)


@dataclass
class ScenarioResult:
    problems: list[Problem] = field(default_factory=list)
    spec: ScenarioSpec | None = None


def validate_text(
    text: str, filename: str = "<input>", playbooks: dict[str, PlaybookSpec] | None = None
) -> ScenarioResult:
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        return ScenarioResult(problems=[Problem(filename, 1, 1, too_big_message())])
    checker = ScenarioChecker(filename, playbooks)
    root = checker.parse(text)
    spec = None if root is None else checker.scenario(root)
    problems = sorted(checker.problems, key=lambda p: (p.line, p.column))
    return ScenarioResult(problems=problems, spec=None if problems else spec)


def validate_file(path: str | os.PathLike[str], playbooks: dict[str, PlaybookSpec] | None = None) -> ScenarioResult:
    text = read_source(path)
    if isinstance(text, Problem):
        return ScenarioResult(problems=[text])
    return validate_text(text, str(path), playbooks)


def scenario_files(library: Path) -> list[Path]:
    """The scenarios of a library folder (its exercises/ subfolder), sorted by name."""
    folder = library / FOLDER
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


def library_playbooks(paths: list[Path]) -> dict[str, PlaybookSpec]:
    """The valid playbooks among these files, by key (the ones a scenario may name)."""
    found = {}
    for path in paths:
        spec = validate_playbook_file(path).spec
        if spec is not None:
            found[spec.key] = spec
    return found


class ScenarioInvalid(DomainError):
    status = 422
    title = "Invalid exercise scenario"

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(str(problems[0]), field="yaml")
        self.problems = problems


@dataclass(frozen=True)
class PublishedScenario:
    version: ScenarioVersion
    created: bool


def load_files(*, session: Session, paths: list[Path], playbooks: dict[str, PlaybookSpec]) -> list[PublishedScenario]:
    """Validate every scenario first (against these playbooks); publish only when all are valid."""
    results = [(path, validate_file(path, playbooks)) for path in paths]
    problems = [p for _path, result in results for p in result.problems]
    if problems:
        raise ScenarioInvalid(problems)
    return [
        publish(session=session, spec=result.spec, text=path.read_text(encoding="utf-8-sig"), filename=str(path))
        for path, result in results
        if result.spec is not None
    ]


def current(*, session: Session, key: str) -> ScenarioVersion | None:
    return session.scalar(
        select(ScenarioVersion).where(ScenarioVersion.key == key).order_by(ScenarioVersion.number.desc()).limit(1)
    )


def list_current(*, session: Session) -> list[ScenarioVersion]:
    newest = (
        select(ScenarioVersion.key, func.max(ScenarioVersion.number).label("number"))
        .group_by(ScenarioVersion.key)
        .subquery()
    )
    return list(
        session.scalars(
            select(ScenarioVersion)
            .join(newest, (newest.c.key == ScenarioVersion.key) & (newest.c.number == ScenarioVersion.number))
            .order_by(ScenarioVersion.key)
        )
    )


def publish(*, session: Session, spec: ScenarioSpec, text: str, filename: str) -> PublishedScenario:
    content_hash = spec.content_hash()
    latest = current(session=session, key=spec.key)
    if latest is not None and latest.content_hash == content_hash:
        return PublishedScenario(latest, created=False)
    version = ScenarioVersion(
        key=spec.key,
        number=(latest.number + 1) if latest else 1,
        playbook_key=spec.playbook,
        title_id=spec.title.id[:300],
        title_en=spec.title.en[:300],
        content_hash=content_hash,
        canonical=spec.to_canonical(),
        source_yaml=text,
        source_name=Path(filename).name[:300],
    )
    session.add(version)
    session.flush()
    timeline.record(
        session=session,
        kind="scenario.published",
        subject_type="scenario",
        subject_id=version.id,
        data={"key": spec.key, "version": version.number, "content_hash": content_hash},
    )
    return PublishedScenario(version, created=True)
