"""The console at national scale: long lists are cut short with a way to the rest."""

from __future__ import annotations

from datetime import timedelta

from tests import factories
from tests.conftest import FIXED_NOW


def _open_incidents(db, org, count):
    for n in range(count):
        moment = FIXED_NOW - timedelta(minutes=count - n)
        issue = factories.log_issue(db.session, org, now=moment, title=f"Hoaks bantuan sosial gelombang {n}")
        factories.escalate(db.session, org, issue, now=moment, severity=1 + n % 4)
    db.session.commit()


def test_console_shows_the_soonest_30_deadlines_and_a_way_to_the_rest(login_as, db, org):
    _open_incidents(db, org, 16)  # a stage deadline and an update deadline each: 32 deadlines
    page = login_as("head", "PUSAT").get("/").get_data(as_text=True)
    due = page.split('id="due-title"', 1)[1].split("</section>", 1)[0]
    assert due.count('class="countdown"') == 30
    assert "2 tenggat lainnya" in due


def test_console_lists_50_open_incidents_and_points_to_the_situation_room(login_as, db, org):
    _open_incidents(db, org, 52)
    page = login_as("head", "PUSAT").get("/").get_data(as_text=True)
    listed = page.split('id="incidents-title"', 1)[1].split("</section>", 1)[0]
    assert listed.count('class="sev sev-') == 50
    assert 'href="/situation"' in listed


def test_the_soonest_deadlines_are_the_same_as_reading_every_running_incident(login_as, db, org):
    """The console reads only the soonest of each kind; the answer is what sorting all of them gives."""
    from crisis.incidents import console, service

    _open_incidents(db, org, 24)
    head = org["users"][("PUSAT", "head")]
    every = service.list_for_user(session=db.session, user=head, limit=1000)
    expected = [(d.deadline, d.incident.id, d.what) for d in console.due_items(every)]
    for limit in (1, 7, 30, 100):
        items, total = console.due_next(session=db.session, user=head, limit=limit)
        assert total == len(expected)
        assert [(d.deadline, d.incident.id, d.what) for d in items] == expected[:limit]
    severe, _total = console.due_next(session=db.session, user=head, severity=4)
    assert severe and {d.incident.severity for d in severe} == {4}
