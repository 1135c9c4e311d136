"""An incident's SOP snapshot, decoded once.

A running incident carries the canonical form of the playbook version it runs (editing an SOP never
changes a live response). Versions are immutable, so a process decodes each version's snapshot once
rather than once per firing. Works on any object with the incident's columns: playbooks is below
incidents and never imports it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import inspect as inspect_row
from sqlalchemy import select

from crisis.playbooks.models import PlaybookVersion
from crisis.playbooks.spec import PlaybookSpec, StageSpec

# Playbook version id -> its canonical form. Versions are immutable and an incident's snapshot is
# the canonical form of its version, so a worker decodes each SOP once rather than once per firing
# (the snapshot is tens of kilobytes of JSON; decoding it was a tenth of a firing's CPU).
_SNAPSHOTS: dict[int, dict[str, Any]] = {}


def snapshot_of(incident: Any) -> dict[str, Any]:
    """The incident's SOP snapshot: the loaded column if it was loaded, else the cached canonical
    form of its playbook version (the engine's queries defer the column)."""
    state = inspect_row(incident)
    if "playbook_snapshot" not in state.unloaded or state.session is None:
        return incident.playbook_snapshot
    cached = _SNAPSHOTS.get(incident.playbook_version_id)
    if cached is None:
        cached = state.session.scalar(
            select(PlaybookVersion.canonical).where(PlaybookVersion.id == incident.playbook_version_id)
        )
        if len(_SNAPSHOTS) >= 256:
            _SNAPSHOTS.clear()
        _SNAPSHOTS[incident.playbook_version_id] = cached
    return cached


def playbook_of(incident: Any) -> PlaybookSpec:
    return PlaybookSpec.from_canonical(snapshot_of(incident))


def stage_spec(stage_run: Any) -> StageSpec:
    return parse_stage(snapshot_of(stage_run.incident)["stages"][stage_run.position])


def parse_stage(canonical: dict[str, Any]) -> StageSpec:
    # Parsed once per stage snapshot object (a firing asks several times).
    key = id(canonical)
    cached = _STAGE_CACHE.get(key)
    if cached is None or cached[0] is not canonical:
        if len(_STAGE_CACHE) > 256:
            _STAGE_CACHE.clear()
        cached = _STAGE_CACHE[key] = (canonical, StageSpec.from_canonical(canonical))
    return cached[1]


_STAGE_CACHE: dict[int, tuple[dict[str, Any], StageSpec]] = {}


