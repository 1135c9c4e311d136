"""Hooks: the work a lower layer causes in a higher one runs in the same transaction, and a hook
point that nobody connected stops the action instead of silently skipping a deadline."""

from __future__ import annotations

import pytest

from crisis import hooks


def test_every_hook_point_is_connected_once_the_app_exists(app):
    connected = hooks.connected()
    assert set(connected) == set(hooks.POINTS)
    assert all(connected[point] for point in hooks.POINTS), connected
    # Resolving ends the deadlines before the review draft is opened from what was recorded; a drill's
    # incident resolved ends the drill.
    assert connected[hooks.INCIDENT_RESOLVED] == [
        "crisis.wiring._end_deadlines",
        "crisis.wiring._open_review",
        "crisis.exercises.service.incident_ended",
    ]
    assert connected[hooks.STAGE_STARTED] == ["crisis.escalation.planning.plan_stage"]


def test_connecting_twice_runs_a_handler_once(monkeypatch):
    monkeypatch.setitem(hooks._handlers, hooks.INCIDENT_OPENED, [])
    calls = []

    def handler(**arguments):
        calls.append(arguments)

    hooks.connect(hooks.INCIDENT_OPENED, handler)
    hooks.connect(hooks.INCIDENT_OPENED, handler)
    hooks.run(hooks.INCIDENT_OPENED, incident="x")
    assert calls == [{"incident": "x"}]


def test_a_point_nobody_connected_refuses_to_run(monkeypatch):
    monkeypatch.setitem(hooks._handlers, hooks.STAGE_STARTED, [])
    with pytest.raises(hooks.HookNotConnected, match="stage.started"):
        hooks.run(hooks.STAGE_STARTED, stage_run=None)
