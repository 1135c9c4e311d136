"""Publishing SOPs as immutable versions, reading the library, and what changed between versions."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask_babel import get_locale
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from crisis.audit import service as audit
from crisis.auth.models import User
from crisis.errors import DomainError, NotFound, NotPermitted
from crisis.i18n import lazy_gettext as _l
from crisis.playbooks.models import Playbook, PlaybookVersion
from crisis.playbooks.spec import PlaybookSpec, to_yaml
from crisis.playbooks.validator import Problem, validate_file, validate_text
from crisis.timeline import service as timeline
from crisis.units import service as units


class PlaybookInvalid(DomainError):
    status = 422
    title = "Invalid playbook"

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(str(problems[0]), field="yaml")
        self.problems = problems

    @property
    def errors(self) -> dict[str, list[str]]:
        return {"yaml": [str(p) for p in self.problems]}


@dataclass(frozen=True)
class Published:
    version: PlaybookVersion
    created: bool  # False: the content equals the current version; nothing was written


def can_publish(*, session: Session, user: User) -> bool:
    """The SOP library is shared by every unit: administrators of a central unit publish."""
    return units.admin_scope(session=session, user=user).everything


def validate(text: str, filename: str = "<input>") -> list[Problem]:
    return validate_text(text, filename).problems


def publish(*, session: Session, actor: User | None, text: str, filename: str = "<input>") -> Published:
    """Publish YAML as a new version when its content differs from the current one.

    actor=None is the server's own command line (`crisis sops load`, the demo seed).
    """
    if actor is not None and not can_publish(session=session, user=actor):
        raise NotPermitted(_l("Only administrators of a central unit publish SOPs."))
    result = validate_text(text, filename)
    if result.spec is None:
        raise PlaybookInvalid(result.problems)
    return _publish_spec(session=session, actor=actor, spec=result.spec, text=text, filename=filename)


def _publish_spec(*, session: Session, actor: User | None, spec: PlaybookSpec, text: str, filename: str) -> Published:
    # Lock the playbook row so two publishers cannot both write version N+1.
    playbook = session.scalar(select(Playbook).where(Playbook.key == spec.key).with_for_update())
    content_hash = spec.content_hash()
    if playbook is not None and playbook.versions and playbook.current.content_hash == content_hash:
        return Published(version=playbook.current, created=False)
    if playbook is None:
        playbook = Playbook(
            key=spec.key,
            category=spec.category,
            title_id=spec.title.id,
            title_en=spec.title.en,
            severities=list(spec.severities),
        )
        session.add(playbook)
        session.flush()
    else:
        playbook.category = spec.category
        playbook.title_id, playbook.title_en = spec.title.id, spec.title.en
        playbook.severities = list(spec.severities)
    number = len(playbook.versions) + 1
    version = PlaybookVersion(
        playbook=playbook,
        number=number,
        content_hash=content_hash,
        canonical=spec.to_canonical(),
        source_yaml=text,
        source_name=Path(filename).name[:300],
        published_by_id=actor.id if actor else None,
    )
    session.add(version)
    session.flush()
    timeline.record(
        session=session,
        kind="playbook.published",
        subject_type="playbook",
        subject_id=playbook.id,
        actor_id=actor.id if actor else None,
        data={"key": spec.key, "version": number, "content_hash": content_hash},
    )
    # The library is shared by every unit: only central administrators see these events.
    audit.record(
        session=session,
        kind="playbook.published",
        actor=actor,
        target=f"playbook:{spec.key}@v{number}",
        detail={"key": spec.key, "version": number, "source": version.source_name},
    )
    return Published(version=version, created=True)


def load_files(*, session: Session, paths: list[Path], actor: User | None = None) -> list[Published]:
    """Validate every file first; publish only when all are valid, so a bad file changes nothing."""
    results = [(path, validate_file(path)) for path in paths]
    problems = [p for _path, result in results for p in result.problems]
    if problems:
        raise PlaybookInvalid(problems)
    return [
        _publish_spec(
            session=session,
            actor=actor,
            spec=result.spec,
            filename=str(path),
            text=path.read_text(encoding="utf-8-sig"),
        )
        for path, result in results
        if result.spec is not None
    ]


def library_files(directory: Path) -> list[Path]:
    """Every *.yaml and *.yml file of a folder, sorted by name."""
    return sorted(path for path in directory.iterdir() if path.suffix in (".yaml", ".yml") and path.is_file())


def current_specs(*, session: Session) -> dict[str, PlaybookSpec]:
    """Every playbook's current version, by key (what an exercise scenario may name)."""
    return {p.key: p.current.spec for p in session.scalars(select(Playbook).options(selectinload(Playbook.versions)))}


def list_playbooks(*, session: Session, category: str | None = None, severity: int | None = None) -> list[Playbook]:
    query = select(Playbook).options(selectinload(Playbook.versions)).order_by(Playbook.key)
    if category:
        query = query.where(Playbook.category == category)
    playbooks = list(session.scalars(query))
    if severity:
        playbooks = [p for p in playbooks if severity in p.severities]
    return playbooks


def titles(*, session: Session, lang: str) -> dict[str, str]:
    """Each SOP's title in the language, by key: the few columns, not every version's snapshot."""
    title = Playbook.title_id if lang == "id" else Playbook.title_en
    return {key: text for key, text in session.execute(select(Playbook.key, title))}


def get_by_key(*, session: Session, key: str) -> Playbook:
    playbook = session.scalar(select(Playbook).where(Playbook.key == key))
    if playbook is None or not playbook.versions:
        raise NotFound(_l("No SOP with this key."))
    return playbook


def get_version(*, session: Session, key: str, number: int | None = None) -> PlaybookVersion:
    playbook = get_by_key(session=session, key=key)
    if number is None:
        return playbook.current
    for version in playbook.versions:
        if version.number == number:
            return version
    raise NotFound(_l("No such version of this SOP."))


def export_yaml(version: PlaybookVersion) -> str:
    return to_yaml(version.spec)


# --- what changed between two versions -----------------------------------------------------


@dataclass(frozen=True)
class Change:
    where: str  # "stage holding-statement", "item verify-sources", "settings"
    what: str  # machine-readable kind: added, removed, target, moved, ...
    before: Any = None
    after: Any = None


def _target_text(canonical: Any) -> str:
    if isinstance(canonical, str):
        return canonical
    return ", ".join(f"{k}: {v}" for k, v in canonical.items())


def diff(old: PlaybookSpec | None, new: PlaybookSpec) -> list[Change]:
    """Stages, targets, checklist items, escalation steps and settings that differ."""
    if old is None:
        return [Change("playbook", "created")]
    changes: list[Change] = []
    for attr in ("title", "description"):
        if getattr(old, attr) != getattr(new, attr):
            changes.append(Change(attr, "text", getattr(old, attr).en, getattr(new, attr).en))
    if old.category != new.category:
        changes.append(Change("category", "changed", old.category, new.category))
    if old.severities != new.severities:
        changes.append(Change("severities", "changed", list(old.severities), list(new.severities)))
    if old.settings != new.settings:
        before, after = old.settings.to_canonical(), new.settings.to_canonical()
        for key in [*after, *(k for k in before if k not in after)]:
            if before.get(key) != after.get(key):
                old_value, new_value = before.get(key), after.get(key)
                changes.append(
                    Change(
                        "settings",
                        key,
                        None if old_value is None else _target_text(old_value),
                        None if new_value is None else _target_text(new_value),
                    )
                )
    old_stages = {s.key: s for s in old.stages}
    new_stages = {s.key: s for s in new.stages}
    for key in old_stages.keys() - new_stages.keys():
        changes.append(Change(f"stage {key}", "removed"))
    old_order = [k for k in (s.key for s in old.stages) if k in new_stages]
    new_order = [k for k in (s.key for s in new.stages) if k in old_stages]
    if old_order != new_order:
        changes.append(Change("stages", "reordered", old_order, new_order))
    for stage in new.stages:
        before = old_stages.get(stage.key)
        if before is None:
            changes.append(Change(f"stage {stage.key}", "added", None, stage.title.en))
            continue
        if before.title != stage.title or before.guidance != stage.guidance:
            changes.append(Change(f"stage {stage.key}", "text"))
        if before.target != stage.target:
            changes.append(
                Change(
                    f"stage {stage.key}",
                    "target",
                    _target_text(before.target.to_canonical()),
                    _target_text(stage.target.to_canonical()),
                )
            )
        old_items = {i.key: i for i in before.checklist}
        new_items = {i.key: i for i in stage.checklist}
        for key in old_items.keys() - new_items.keys():
            changes.append(Change(f"item {key}", "removed"))
        for item in stage.checklist:
            was = old_items.get(item.key)
            if was is None:
                changes.append(Change(f"item {item.key}", "added", None, item.text.en))
            elif was != item:
                fields = [f for f in ("text", "required", "owner", "evidence") if getattr(was, f) != getattr(item, f)]
                changes.append(Change(f"item {item.key}", "changed", None, ", ".join(fields)))
        if before.escalation != stage.escalation:
            changes.append(
                Change(
                    f"stage {stage.key}",
                    "escalation",
                    [_step_text(s) for s in before.escalation],
                    [_step_text(s) for s in stage.escalation],
                )
            )
    return changes


def _step_text(step: Any) -> str:
    canonical = step.to_canonical()
    text = f"after {_target_text(canonical['after'])} → {', '.join(_selector_text(s) for s in step.notify)}"
    if step.repeat is not None:
        text += f" (every {_target_text(canonical['repeat']['every'])} ×{step.repeat.max}, until {step.until})"
    if step.severities:
        text += f" [severity {', '.join(map(str, step.severities))}]"
    return text


def _selector_text(selector: Any) -> str:
    gate = f" [severity {', '.join(map(str, selector.severities))}]" if selector.severities else ""
    return f"{selector}{gate}"


def previous_version(version: PlaybookVersion) -> PlaybookVersion | None:
    earlier = [v for v in version.playbook.versions if v.number < version.number]
    return earlier[-1] if earlier else None


def version_changes(version: PlaybookVersion) -> list[Change]:
    before = previous_version(version)
    return diff(before.spec if before else None, version.spec)


def version_names(session: Session, references: list[str]) -> dict[str, str]:
    """The audit page's words for "playbook:<key>@v<number>" targets: the SOP's title and version."""
    parsed: dict[str, tuple[str, int]] = {}
    for reference in references:
        key, sep, number = reference.rpartition("@v")
        if sep and number.isdigit():
            parsed[reference] = (key, int(number))
    language = str(get_locale() or "id")
    known = titles(session=session, lang=language) if parsed else {}
    return {
        reference: str(_l("SOP “%(title)s”, version %(number)s", title=known[key], number=number))
        for reference, (key, number) in parsed.items()
        if key in known
    }
