"""Reading the SOP snapshot a running response carries: its playbook version's canonical form,
decoded to specs.

A response pins the playbook version it started with and keeps that version's canonical form as
its snapshot (`playbook_snapshot`, beside `playbook_version_id`), so editing an SOP never changes
a live response. Versions are immutable, so the snapshot of version N is the canonical form of
version N: a process decodes each version once, not once per timer firing (a snapshot is tens of
kilobytes of JSON). Anything with those two attributes works here, an ORM row or a plain object;
this module knows nothing of the packages above playbooks.
"""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from crisis.playbooks.models import PlaybookVersion
from crisis.playbooks.spec import PlaybookSpec, Settings, StageSpec

CACHE_SIZE = 256  # versions (or stage snapshots) a process keeps decoded; a full cache starts over

_VERSIONS: dict[int, dict[str, Any]] = {}  # playbook version id -> its canonical form
_STAGES: dict[int, tuple[dict[str, Any], StageSpec]] = {}  # id() of a stage's canonical form -> (it, its spec)
_SETTINGS: dict[int, tuple[dict[str, Any], Settings]] = {}  # version id -> (its canonical form, its settings)


class Pinned(Protocol):
    """Something running a pinned playbook version (an incident)."""

    @property
    def playbook_version_id(self) -> int: ...

    @property
    def playbook_snapshot(self) -> dict[str, Any]: ...


def version_canonical(session: Session, version_id: int) -> dict[str, Any]:
    """The canonical form of a published playbook version, read once per process."""
    canonical = _VERSIONS.get(version_id)
    if canonical is None:
        canonical = session.scalar(select(PlaybookVersion.canonical).where(PlaybookVersion.id == version_id))
        if len(_VERSIONS) >= CACHE_SIZE:
            _VERSIONS.clear()
        _VERSIONS[version_id] = canonical
    return canonical


def version_settings(session: Session, version_id: int) -> Settings:
    """The settings (update cadence, review deadline...) of a published playbook version, parsed once
    per process: a national console asks them of every running incident's version on each request."""
    canonical = version_canonical(session, version_id)
    cached = _SETTINGS.get(version_id)
    if cached is None or cached[0] is not canonical:
        if len(_SETTINGS) >= CACHE_SIZE:
            _SETTINGS.clear()
        cached = _SETTINGS[version_id] = (canonical, Settings.from_canonical(canonical["settings"]))
    return cached[1]


def snapshot_of(pinned: Pinned) -> dict[str, Any]:
    """The snapshot: the loaded column if it was loaded (or `pinned` is not a database row), else the
    cached canonical form of its version (the engine's queries defer the column)."""
    state = inspect(pinned, raiseerr=False)
    # Loaded (or set) means in the row's dict; `state.unloaded` would compare every attribute to say so.
    if state is None or "playbook_snapshot" in state.dict or state.session is None:
        return pinned.playbook_snapshot
    return version_canonical(state.session, pinned.playbook_version_id)


def parse_stage(canonical: dict[str, Any]) -> StageSpec:
    """The spec of one stage's canonical form, parsed once per stage snapshot object (a firing asks
    several times)."""
    key = id(canonical)
    cached = _STAGES.get(key)
    if cached is None or cached[0] is not canonical:
        if len(_STAGES) > CACHE_SIZE:
            _STAGES.clear()
        cached = _STAGES[key] = (canonical, StageSpec.from_canonical(canonical))
    return cached[1]


def stage_spec(pinned: Pinned, position: int) -> StageSpec:
    """The spec of the stage at `position` (0-based, as the playbook lists them) of the snapshot."""
    return parse_stage(snapshot_of(pinned)["stages"][position])


def playbook_spec(pinned: Pinned) -> PlaybookSpec:
    """The whole snapshot as a PlaybookSpec (its settings: update cadence, review deadline)."""
    return PlaybookSpec.from_canonical(snapshot_of(pinned))
