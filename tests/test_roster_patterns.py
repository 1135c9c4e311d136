"""The duty roster: one person's shifts never overlap, weekly rotations, and gaps nobody covers."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, func, select

from crisis.auth import roster as duty
from crisis.auth.models import Membership, User
from crisis.errors import ValidationFailed
from crisis.units.models import DutyShift
from tests.conftest import DEMO_PASSWORD, FIXED_NOW, form_post, sign_in

WIT = ZoneInfo("Asia/Jayapura")


def _tomorrow_wit():
    return FIXED_NOW.astimezone(WIT).date() + timedelta(days=1)


@pytest.fixture
def jayapura(db, org):
    """Kota Jayapura with an empty roster, its head, officer and a third person (a supervisor)."""
    db.session.execute(delete(DutyShift))
    unit = org["units"]["KOTA-JAYAPURA"]
    third = User(email="supervisor.kota-jayapura@example.go.id", name="Yakobus Mirin", password_hash="x")
    third.memberships.append(Membership(unit=unit, role="supervisor"))
    db.session.add(third)
    db.session.commit()
    return {
        "unit": unit,
        "head": org["users"][("KOTA-JAYAPURA", "head")],
        "officer": org["users"][("KOTA-JAYAPURA", "officer")],
        "third": third,
    }


def _shift(db, j, person, starts, ends):
    shift = duty.create_shift(
        session=db.session, actor=j["head"], unit_id=j["unit"].id, user_id=person.id, starts_at=starts, ends_at=ends
    )
    db.session.commit()
    return shift


def test_overlapping_shift_on_the_page_is_refused_naming_the_person_and_times_in_wit(client, db, jayapura):
    day = _tomorrow_wit()
    officer = jayapura["officer"]
    _shift(db, jayapura, officer, datetime.combine(day, time(7), WIT), datetime.combine(day, time(19), WIT))
    sign_in(client, jayapura["head"].email, DEMO_PASSWORD)
    path = f"/units/{jayapura['unit'].id}/roster"
    page = form_post(
        client,
        path,
        {"user_id": officer.id, "starts_at": f"{day}T15:00", "ends_at": f"{day}T23:00", "note": ""},
    )
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Markus Itlay" in text and "07:00 WIT" in text and "19:00 WIT" in text
    assert "sudah bertugas" in text  # the sentence, in the head's language
    assert db.session.scalar(select(func.count(DutyShift.id))) == 1


def test_overlapping_shift_through_the_api_is_a_problem_on_starts_at(client, db, jayapura, token_for):
    day = _tomorrow_wit()
    _shift(db, jayapura, jayapura["officer"], datetime.combine(day, time(7), WIT), datetime.combine(day, time(19), WIT))
    response = client.post(
        "/api/v1/duty-shifts",
        headers={**token_for("head", "KOTA-JAYAPURA"), "Accept-Language": "en"},
        json={
            "unit_id": jayapura["unit"].id,
            "user_id": jayapura["officer"].id,
            "starts_at": f"{day}T18:00:00+09:00",
            "ends_at": f"{day + timedelta(days=1)}T06:00:00+09:00",
        },
    )
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    message = response.get_json()["errors"]["starts_at"][0]
    assert "Markus Itlay is already on duty in KOTA-JAYAPURA" in message
    assert "07:00 WIT" in message and "19:00 WIT" in message
    assert db.session.scalar(select(func.count(DutyShift.id))) == 1


def test_back_to_back_shifts_are_not_a_clash(db, jayapura):
    day = _tomorrow_wit()
    officer = jayapura["officer"]
    _shift(db, jayapura, officer, datetime.combine(day, time(7), WIT), datetime.combine(day, time(19), WIT))
    _shift(db, jayapura, officer, datetime.combine(day, time(19), WIT), datetime.combine(day, time(23), WIT))
    assert db.session.scalar(select(func.count(DutyShift.id))) == 2


def test_rotation_gives_day_and_night_shifts_in_turn_at_local_times(db, jayapura):
    people = [jayapura["officer"].id, jayapura["third"].id, jayapura["head"].id]
    first = _tomorrow_wit()
    added = duty.plan_rotation(
        session=db.session, actor=jayapura["head"], unit_id=jayapura["unit"].id, people=people, first_day=first, weeks=2
    )
    db.session.commit()
    assert len(added) == 2 * 7 * 2
    ordered = sorted(added, key=lambda s: s.starts_at)
    assert [s.user_id for s in ordered[:4]] == [people[0], people[1], people[2], people[0]]
    local = [(s.starts_at.astimezone(WIT), s.ends_at.astimezone(WIT)) for s in ordered]
    assert local[0][0] == datetime.combine(first, time(7), WIT)
    assert local[1] == (
        datetime.combine(first, time(19), WIT),
        datetime.combine(first + timedelta(days=1), time(7), WIT),
    )
    assert all(s.starts_at.tzinfo is not None for s in ordered)
    # Nobody is ever on two shifts at once, and the unit is covered round the clock.
    start, end = local[0][0], local[-1][1]
    assert duty.gaps(session=db.session, unit=jayapura["unit"], start=start, end=end) == []

    again = duty.plan_rotation(
        session=db.session, actor=jayapura["head"], unit_id=jayapura["unit"].id, people=people, first_day=first, weeks=2
    )
    assert again == []  # the same plan twice adds nothing


def test_rotation_that_clashes_is_refused_whole_naming_person_and_time(db, jayapura):
    first = _tomorrow_wit()
    officer = jayapura["officer"]
    # Elsewhere on the fifth evening, the officer cannot take the night shift the rotation gives.
    _shift(
        db,
        jayapura,
        officer,
        datetime.combine(first + timedelta(days=4), time(20), WIT),
        datetime.combine(first + timedelta(days=4), time(22), WIT),
    )
    with pytest.raises(ValidationFailed) as refused:
        duty.plan_rotation(
            session=db.session,
            actor=jayapura["head"],
            unit_id=jayapura["unit"].id,
            people=[jayapura["third"].id, officer.id],
            first_day=first,
            weeks=1,
        )
    db.session.rollback()
    (message,) = refused.value.errors["people"]
    assert "Markus Itlay" in message and "20:00 WIT" in message and "22:00 WIT" in message
    assert db.session.scalar(select(func.count(DutyShift.id))) == 1


def test_rotation_page_generates_the_weeks_and_shows_no_gap(client, db, jayapura):
    sign_in(client, jayapura["head"].email, DEMO_PASSWORD)
    path = f"/units/{jayapura['unit'].id}/roster"
    first = FIXED_NOW.astimezone(WIT).date()
    response = form_post(
        client,
        f"{path}/rotation",
        {
            "pattern": "day-night",
            "people": [jayapura["officer"].id, jayapura["third"].id],
            "first_day": first.isoformat(),
            "weeks": "2",
        },
        page=path,
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    assert db.session.scalar(select(func.count(DutyShift.id))) == 28
    page = client.get(path).get_data(as_text=True)
    # FIXED_NOW is 12:00 WIT, after the first day shift started: covered until the plan ends in two weeks.
    assert 'class="gap"' not in page


def test_roster_page_shows_where_nobody_is_on_duty(client, db, jayapura):
    day = FIXED_NOW.astimezone(WIT).date()
    _shift(db, jayapura, jayapura["officer"], FIXED_NOW, datetime.combine(day, time(19), WIT))
    sign_in(client, jayapura["head"].email, DEMO_PASSWORD)
    page = client.get(f"/units/{jayapura['unit'].id}/roster").get_data(as_text=True)
    assert 'class="gap"' in page
    assert "19:00 WIT" in page  # the gap starts when the officer's shift ends


def test_console_warns_the_head_of_a_gap_in_the_next_24_hours(client, db, jayapura):
    _shift(db, jayapura, jayapura["officer"], FIXED_NOW, FIXED_NOW + timedelta(hours=10))
    sign_in(client, jayapura["head"].email, DEMO_PASSWORD)
    page = client.get("/").get_data(as_text=True)
    assert 'id="roster-gaps"' in page
    gap_start = (FIXED_NOW + timedelta(hours=10)).astimezone(WIT).strftime("%H:%M")
    assert f"{gap_start} WIT" in page

    _shift(db, jayapura, jayapura["third"], FIXED_NOW + timedelta(hours=10), FIXED_NOW + timedelta(hours=30))
    assert 'id="roster-gaps"' not in client.get("/").get_data(as_text=True)


def test_console_of_an_officer_shows_no_roster_warning(client, db, jayapura):
    sign_in(client, jayapura["officer"].email, DEMO_PASSWORD)
    assert 'id="roster-gaps"' not in client.get("/").get_data(as_text=True)


def test_roster_rotate_command_plans_a_week_and_refuses_a_clash(app, db, jayapura):
    from crisis.cli import main

    runner = app.test_cli_runner()
    first = _tomorrow_wit()
    people = f"{jayapura['officer'].email},{jayapura['third'].email}"
    args = [
        "roster",
        "rotate",
        "--unit",
        "KOTA-JAYAPURA",
        "--people",
        people,
        "--from",
        first.isoformat(),
        "--weeks",
        "1",
    ]
    planned = runner.invoke(main, args)
    assert planned.exit_code == 0, planned.output
    assert db.session.scalar(select(func.count(DutyShift.id))) == 14
    assert runner.invoke(main, args).exit_code == 0  # the same plan again adds nothing
    assert db.session.scalar(select(func.count(DutyShift.id))) == 14

    other = ["roster", "rotate", "--unit", "KOTA-JAYAPURA", "--people", jayapura["officer"].email]
    refused = runner.invoke(main, [*other, "--from", first.isoformat(), "--weeks", "1", "--pattern", "office-hours"])
    assert refused.exit_code == 2
    assert "Markus Itlay" in refused.output and "WIT" in refused.output
    assert db.session.scalar(select(func.count(DutyShift.id))) == 14
