"""Reading a response's SOP snapshot: the specs it decodes to, each decoded once, and a deferred
snapshot read from its immutable playbook version without loading the column."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import inspect, select
from sqlalchemy.orm import defer

from crisis.playbooks import snapshot
from crisis.playbooks.spec import PlaybookSpec
from crisis.playbooks.validator import validate_file

SOPS = Path(__file__).resolve().parents[2] / "sops"
LIBRARY = sorted(SOPS.glob("*.yaml"))


def _canonical(path: Path) -> dict[str, Any]:
    """A library playbook's canonical form as the database gives it back (JSON, not Python objects)."""
    spec = validate_file(path).spec
    assert spec is not None
    return json.loads(json.dumps(spec.to_canonical(), ensure_ascii=False))


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: p.stem)
def test_a_snapshot_decodes_to_the_playbook_it_was_taken_from(path: Path) -> None:
    canonical = _canonical(path)
    pinned = SimpleNamespace(playbook_version_id=1, playbook_snapshot=canonical)
    expected = PlaybookSpec.from_canonical(canonical)
    assert snapshot.snapshot_of(pinned) is canonical
    assert snapshot.playbook_spec(pinned) == expected
    assert [snapshot.stage_spec(pinned, position) for position in range(len(expected.stages))] == list(expected.stages)


def test_a_stage_is_parsed_once_per_snapshot_object() -> None:
    stage = _canonical(SOPS / "hoax-clarification.yaml")["stages"][0]
    first = snapshot.parse_stage(stage)
    assert snapshot.parse_stage(stage) is first
    # An equal copy (another incident's snapshot) decodes to an equal spec of its own.
    other = snapshot.parse_stage(copy.deepcopy(stage))
    assert other == first and other is not first


def test_the_stage_cache_starts_over_when_full(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(snapshot, "_STAGES", {})
    stage = _canonical(SOPS / "hoax-clarification.yaml")["stages"][0]
    copies = [copy.deepcopy(stage) for _ in range(snapshot.CACHE_SIZE + 2)]
    specs = [snapshot.parse_stage(c) for c in copies]
    assert len(snapshot._STAGES) <= snapshot.CACHE_SIZE + 1
    assert all(spec == specs[0] for spec in specs)
    assert snapshot.parse_stage(copies[-1]) is specs[-1]


def test_a_deferred_snapshot_is_read_from_its_version_once(db, org, monkeypatch: pytest.MonkeyPatch) -> None:
    from crisis import clock
    from crisis.incidents.models import Incident
    from crisis.playbooks.models import Playbook

    monkeypatch.setattr(snapshot, "_VERSIONS", {})
    version = db.session.scalar(select(Playbook).where(Playbook.key == "hoax-clarification")).current
    for title in ("Hoaks bansos", "Hoaks vaksin"):
        db.session.add(
            Incident(
                unit_id=org["units"]["KOTA-SEMARANG"].id,
                title=title,
                severity=3,
                state="active",
                commander_id=org["users"][("KOTA-SEMARANG", "officer")].id,
                playbook_version_id=version.id,
                playbook_snapshot=version.canonical,
                started_at=clock.now(),
            )
        )
    db.session.commit()
    expected = version.canonical
    db.session.expunge_all()

    first, second = db.session.scalars(
        select(Incident).options(defer(Incident.playbook_snapshot)).order_by(Incident.id)
    ).all()
    assert snapshot.snapshot_of(first) == expected
    assert "playbook_snapshot" in inspect(first).unloaded  # the column was not loaded to answer
    # One decoded copy per version, shared by every incident that runs it.
    assert snapshot.snapshot_of(second) is snapshot.snapshot_of(first)
    assert snapshot.stage_spec(second, 1) == PlaybookSpec.from_canonical(expected).stages[1]

    # A loaded snapshot is the incident's own.
    db.session.refresh(second, ["playbook_snapshot"])
    assert snapshot.snapshot_of(second) is second.playbook_snapshot
