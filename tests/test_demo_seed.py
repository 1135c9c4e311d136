"""`make run`'s demo (`crisis seed demo`) is a living desk on whatever day it is seeded: open issues,
two running incidents (one overdue, one with a statement awaiting approval), settled history with
approved reviews and a populated dashboard, all placed relative to the clock; and `make run`
installs only what the app needs."""

from __future__ import annotations

import re
import subprocess
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from crisis.cli import seed_living_demo
from crisis.incidents.models import Incident, Statement
from crisis.issues.models import Issue
from crisis.reviews.models import Review
from crisis.seed import AWAITING_TITLE, OVERDUE_TITLE
from tests.conftest import FIXED_NOW, sign_in
from tests.helpers import ROOT

# Two days that share nothing: another season, weekday and hour (17:40 WIB against the suite's 10:00).
ANOTHER_DAY = FIXED_NOW + timedelta(days=173, hours=7, minutes=40)


def _shape(db: Any, now: Any) -> dict[str, Any]:
    session = db.session
    by_state = dict(session.execute(select(Incident.state, func.count()).group_by(Incident.state)).all())
    issues = dict(session.execute(select(Issue.state, func.count()).group_by(Issue.state)).all())
    reviews = dict(session.execute(select(Review.state, func.count()).group_by(Review.state)).all())
    running = {i.title: i for i in session.scalars(select(Incident).where(Incident.state == "active"))}
    overdue, awaiting = running[OVERDUE_TITLE], running[AWAITING_TITLE]
    waiting = session.scalars(select(Statement).where(Statement.incident_id == awaiting.id)).all()
    # Nothing in the future, nothing older than the history's four months (and a little).
    assert session.scalar(select(func.max(Incident.started_at))) <= now
    assert session.scalar(select(func.min(Incident.started_at))) >= now - timedelta(days=125)
    assert session.scalar(select(func.max(Issue.first_seen_at))) <= now
    return {
        "running": by_state.get("active", 0),
        # The history is random (one seed) around `now`: its counts move a little with the hour of day.
        "settled (resolved or closed) at least 100": by_state.get("resolved", 0) + by_state.get("closed", 0) >= 100,
        "most reviews approved": reviews.get("approved", 0) >= 0.6 * sum(reviews.values()),
        "some reviews still to write": reviews.get("draft", 0) >= 1,
        "issues": issues,
        "running titles": sorted(running),
        "overdue stage late by (h)": round((now - overdue.current_stage.due_at) / timedelta(hours=1)),
        "awaiting stage overdue": awaiting.current_stage.due_at < now,
        "awaiting statements": [(s.kind, s.state) for s in waiting],
        "statement drafted (min ago)": round((now - waiting[0].drafted_at) / timedelta(minutes=1)),
    }


@pytest.mark.parametrize("moment", [FIXED_NOW, ANOTHER_DAY], ids=["suite-day", "another-day"])
def test_the_demo_desk_has_the_same_living_shape_on_any_day(db, clock, client, moment):
    clock.now = moment
    made = seed_living_demo(session=db.session, now=clock.now)
    db.session.commit()
    shape = _shape(db, moment)
    assert shape == {
        "running": 2,
        "settled (resolved or closed) at least 100": True,
        "most reviews approved": True,
        "some reviews still to write": True,
        "issues": {"escalated": 2, "monitoring": 2, "new": 2},
        "running titles": sorted([OVERDUE_TITLE, AWAITING_TITLE]),
        "overdue stage late by (h)": 1,
        "awaiting stage overdue": False,
        "awaiting statements": [("holding", "draft")],
        "statement drafted (min ago)": 15,
    }
    assert made["history"]["measured"] > 0

    # The newcomer's first look: the console lists both running incidents, one of them late ...
    assert sign_in(client, "kepala.pusat@demo.example").status_code == 302
    console = client.get("/").get_data(as_text=True)
    assert OVERDUE_TITLE in console and AWAITING_TITLE in console
    assert '<li class="overdue">' in console
    # ... the head of Makassar has the officer's statement to approve ...
    client.post("/logout", data={"csrf_token": _token(client)})
    assert sign_in(client, "kepala.kota-makassar@demo.example").status_code == 302
    page = client.get(f"/incidents/{made['awaiting'].id}").get_data(as_text=True)
    assert "/approve" in page
    # ... and the evaluation dashboard has numbers to show for the last months.
    dashboard = client.get("/evaluation")
    assert dashboard.status_code == 200
    assert dashboard.get_data(as_text=True).count("data-chart=") == 3


def _token(client) -> str:
    page = client.get("/").get_data(as_text=True)
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)


def _make_dry_run(target: str, tmp_path) -> str:
    result = subprocess.run(
        ["make", "-n", "-B", target, f"VENV={tmp_path / 'venv'}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def test_make_run_installs_the_app_only_and_make_test_adds_the_test_tools(tmp_path):
    run = _make_dry_run("run", tmp_path)
    assert "pip install -e ." in run
    assert ".[test]" not in run
    test = _make_dry_run("test", tmp_path)
    assert 'pip install -e ".[test]"' in test
