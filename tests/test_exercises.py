"""Drills (latihan): scenario files validated with file:line:column, exercises kept out of every
real figure, the after-action report as PDF, and pages that say LATIHAN."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from crisis.cli import main
from crisis.errors import ValidationFailed
from crisis.exercises import readiness, scenarios
from crisis.exercises import service as exercises
from crisis.incidents import access
from crisis.incidents import service as incident_service
from crisis.playbooks.service import library_files
from crisis.reports import measures, monthly, situation
from crisis.reports import service as reports
from crisis.reports.models import IncidentMeasure, KeyMessageLag
from crisis.reviews import service as reviews
from tests.conftest import FIXED_NOW, sign_in
from tests.factories import close_required, escalate, log_issue

T0 = FIXED_NOW
SOPS = Path(__file__).resolve().parent.parent / "sops"
GOOD = (SOPS / "exercises" / "hoax-pdam-water.yaml").read_text(encoding="utf-8")


def _playbooks():
    return scenarios.library_playbooks(library_files(SOPS))


def test_the_shipped_scenarios_are_valid_in_both_languages():
    playbooks = _playbooks()
    files = scenarios.scenario_files(SOPS)
    assert {p.stem for p in files} >= {"hoax-pdam-water", "data-leak-population", "earthquake-information"}
    for path in files:
        result = scenarios.validate_file(path, playbooks)
        assert result.problems == [], result.problems
        spec = result.spec
        assert spec.playbook in {"hoax-clarification", "data-leak-cyber", "disaster-public-information"}
        assert all(i.text.id and i.text.en for i in spec.injects) and len(spec.injects) >= 3


def test_a_bad_scenario_is_refused_with_file_line_and_column():
    bad = (
        GOOD.replace("playbook: hoax-clarification", "playbook: hoax-clarificaton")
        .replace("  - at: 25m", "  - at: 5m")
        .replace("notify: [commander, head@own]", "notify: [commander, boss@own]")
    )
    problems = scenarios.validate_text(bad, "sops/exercises/hoax-pdam-water.yaml", _playbooks()).problems
    where = {(p.line, p.column): p.message for p in problems}
    lines = bad.splitlines()
    playbook_line = next(i for i, line in enumerate(lines, 1) if line.startswith("playbook:"))
    assert "no playbook 'hoax-clarificaton'" in where[(playbook_line, 11)]
    order_line = next(i for i, line in enumerate(lines, 1) if line == "  - at: 5m")
    assert "time order" in where[(order_line, 9)]
    selector_line = next(i for i, line in enumerate(lines, 1) if "boss@own" in line)
    assert any(line == selector_line and "unknown role 'boss'" in str(m) for (line, _c), m in where.items())
    assert scenarios.validate_text(bad, "x.yaml", _playbooks()).spec is None


def test_sops_validate_and_load_recognise_the_exercises_folder(app, db, tmp_path):
    runner = app.test_cli_runner()
    result = runner.invoke(main, ["sops", "validate", str(SOPS)])
    assert result.exit_code == 0, result.output
    assert "3 exercise scenario(s) valid" in result.output
    broken = tmp_path / "sops"
    (broken / "exercises").mkdir(parents=True)
    for path in library_files(SOPS):
        (broken / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    (broken / "exercises" / "hoax-pdam-water.yaml").write_text(GOOD.replace("severity: 3", "severity: 7"), "utf-8")
    result = runner.invoke(main, ["sops", "validate", str(broken)])
    line = next(i for i, text in enumerate(GOOD.splitlines(), 1) if text.startswith("severity:"))
    assert result.exit_code == 1 and f"hoax-pdam-water.yaml:{line}:11: expected a severity from 1 to 4" in result.output


def test_scenarios_are_versioned_by_content_and_a_running_exercise_keeps_its_version(db, org):
    current = scenarios.current(session=db.session, key="hoax-pdam-water")
    assert current.number == 1
    exercise = exercises.start(
        session=db.session,
        actor=org["users"][("KOTA-SEMARANG", "head")],
        scenario_key="hoax-pdam-water",
        unit_id=org["units"]["KOTA-SEMARANG"].id,
        now=T0,
    )
    same = scenarios.publish(session=db.session, spec=scenarios.validate_text(GOOD).spec, text=GOOD, filename="x.yaml")
    assert not same.created
    changed = GOOD.replace("reach: 45000", "reach: 46000")
    newer = scenarios.publish(
        session=db.session, spec=scenarios.validate_text(changed).spec, text=changed, filename="x"
    )
    assert newer.created and newer.version.number == 2
    assert exercise.scenario_version.number == 1 and exercise.scenario_snapshot["issue"]["reach"] == 45000


def _one_real_one_exercise(db, org):
    real = escalate(db.session, org, log_issue(db.session, org, now=T0), now=T0)
    drill = exercises.start(
        session=db.session,
        actor=org["users"][("KOTA-SEMARANG", "head")],
        scenario_key="hoax-pdam-water",
        unit_id=org["units"]["KOTA-SEMARANG"].id,
        other_unit_ids=[org["units"]["JATENG"].id],
        now=T0,
    )
    db.session.commit()
    return real, drill.incident


def test_an_exercise_never_counts_in_the_evaluation_the_situation_room_or_the_real_lists(db, org):
    real, drill = _one_real_one_exercise(db, org)
    later = T0 + timedelta(hours=3)
    head = org["users"][("KOTA-SEMARANG", "head")]
    for incident in (real, drill):  # each completes its first stage on time: judged, met
        first = incident.stage_runs[0]
        close_required(db.session, head, first, now=T0 + timedelta(minutes=30))
        incident_service.complete_stage(
            session=db.session, actor=head, stage_run_id=first.id, now=T0 + timedelta(minutes=30)
        )
    db.session.commit()
    # Precomputed measures (the dashboard, KPI progress and monthly reports all read these rows).
    reports.refresh_measures(session=db.session, now=later)
    db.session.commit()
    assert db.session.scalars(select(IncidentMeasure.incident_id)).all() == [real.id]
    assert drill.id not in db.session.scalars(select(KeyMessageLag.incident_id)).all()
    assert reports.dirty_incidents(session=db.session, now=later) == []
    # The SQL of the measures leaves a drill out even when asked for it by id.
    rows = db.session.execute(measures.incident_measures_select(session=db.session, now=later, incident_ids=[drill.id]))
    assert rows.all() == []
    # The dashboard's count of incidents, and KPI progress against a head's target.
    unit = org["units"]["KOTA-SEMARANG"]
    reports.set_target(session=db.session, actor=head, unit_id=unit.id, measure="stage_sla", target_percent=80, now=T0)
    db.session.commit()
    filters = reports.filters_for(
        session=db.session, user=head, start=(T0 - timedelta(days=1)).date(), end=T0.date(), unit_id=unit.id, now=later
    )
    board = reports.build_dashboard(session=db.session, filters=filters)
    assert sum(board.counts.values()) == 1
    real_judged = db.session.get(IncidentMeasure, real.id).st_judged
    assert real_judged >= 1
    [kpi] = [row for row in board.kpis if row["target"].measure == "stage_sla"]
    assert kpi["judged"] == real_judged
    # The monthly report of the unit's month.
    month = monthly.monthly_filters(session=db.session, unit=unit, month=T0.date().replace(day=1), now=later)
    assert sum(reports.build_dashboard(session=db.session, filters=month).counts.values()) == 1
    # The situation room's counts and the incidents behind them.
    national = org["users"][("PUSAT", "head")]
    room = situation.build(session=db.session, root=None, now=later)
    assert room.totals.open == 1
    behind, total = situation.incidents_behind(
        session=db.session, user=national, area=org["units"]["JATENG"], what="sev" + str(real.severity), now=later
    )
    assert [i.id for i in behind] == [real.id] and total == 1
    # The console's real list, and its separate list of drills.
    assert [i.id for i in access.list_for_user(session=db.session, user=national)] == [real.id]
    assert [i.id for i in access.list_for_user(session=db.session, user=national, exercises=True)] == [drill.id]


def test_readiness_counts_exercises_against_the_heads_target_and_open_improvement_items(db, org):
    _real, drill = _one_real_one_exercise(db, org)
    head = org["users"][("KOTA-SEMARANG", "head")]
    exercises.set_target(
        session=db.session, actor=head, unit_id=org["units"]["KOTA-SEMARANG"].id, year=T0.year, target=2
    )
    exercises.end(session=db.session, actor=head, exercise_id=drill.exercise_id, now=T0 + timedelta(hours=1))
    review = reviews.get_for_incident(session=db.session, user=head, incident_id=drill.id)
    reviews.add_action_item(
        session=db.session,
        actor=head,
        review_id=review.id,
        title="Latih juru bicara membaca pernyataan sementara",
        owner_id=head.id,
        due_on=(T0 + timedelta(days=30)).date().isoformat(),
        now=T0 + timedelta(hours=2),
    )
    db.session.commit()
    [row, jateng] = readiness.for_units(
        session=db.session, units=[org["units"]["KOTA-SEMARANG"], org["units"]["JATENG"]], now=T0 + timedelta(hours=3)
    )
    assert (row.done, row.target, row.open_items) == (1, 2, 1) and row.on_track is False
    assert set(row.last_by_playbook) == {"hoax-clarification"} and "data-leak-cyber" in row.never
    assert jateng.done == 1 and jateng.target is None  # JATENG took part: it counts for them too


def test_the_after_action_report_rates_objectives_and_comes_as_a_pdf(db, org, login_as):
    _real, drill = _one_real_one_exercise(db, org)
    head = org["users"][("KOTA-SEMARANG", "head")]
    exercise_id = drill.exercise_id
    exercises.end(session=db.session, actor=head, exercise_id=exercise_id, now=T0 + timedelta(hours=1))
    ratings = {
        "identify-within-target": {"rating": "met"},
        "verified-with-pdam": {"rating": "partly", "note": "Hasil lab PDAM datang terlambat."},
        "clarification-on-time": {"rating": "not_met", "note": "Klarifikasi belum disetujui."},
        "media-answered": {"rating": "met"},
    }
    exercises.evaluate(
        session=db.session, actor=head, exercise_id=exercise_id, ratings=ratings, now=T0 + timedelta(hours=2)
    )
    db.session.commit()
    client = login_as("head", "KOTA-SEMARANG")
    page = client.get(f"/exercises/{exercise_id}")
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and "Hasil lab PDAM datang terlambat." in body and "LATIHAN · SIMULASI" in body
    assert "Tahap Identifikasi dan pelabelan: target" in body  # an objective beside its stage's target
    assert "belum selesai saat latihan diakhiri" in body  # a stage cut short by ENDEX is never "on time"
    assert "ENDEX" in body  # what was done: the timeline, items left open waived when the drill ended
    assert body.count('class="inject-row"') == 4
    pdf = client.get(f"/exercises/{exercise_id}/report.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF")
    assert len(pdf.data) > 5000


def test_a_rating_below_met_needs_a_note(db, org):
    _real, drill = _one_real_one_exercise(db, org)
    head = org["users"][("KOTA-SEMARANG", "head")]
    exercises.end(session=db.session, actor=head, exercise_id=drill.exercise_id, now=T0 + timedelta(hours=1))
    with pytest.raises(ValidationFailed) as refused:
        exercises.evaluate(
            session=db.session,
            actor=head,
            exercise_id=drill.exercise_id,
            ratings={o["key"]: {"rating": "partly"} for o in drill.exercise.objectives},
        )
    assert "ratings.identify-within-target.note" in refused.value.errors
    assert drill.exercise.evaluated_at is None


def test_every_page_of_an_exercise_shows_the_latihan_banner_and_a_real_one_does_not(db, org, login_as):
    real, drill = _one_real_one_exercise(db, org)
    client = login_as("head", "KOTA-SEMARANG")
    banner = "LATIHAN · SIMULASI"
    assert banner in client.get(f"/incidents/{drill.id}").get_data(as_text=True)
    assert banner not in client.get(f"/incidents/{real.id}").get_data(as_text=True)
    console = client.get("/").get_data(as_text=True)
    assert "exercises-title" in console and drill.reference in console
    exercises.end(
        session=db.session, actor=org["users"][("KOTA-SEMARANG", "head")], exercise_id=drill.exercise_id, now=T0
    )
    db.session.commit()
    assert banner in client.get(f"/incidents/{drill.id}/review").get_data(as_text=True)


def test_starting_an_exercise_on_the_page_and_through_the_api(db, org, login_as, token_for):
    client = login_as("supervisor", "KOTA-SEMARANG")
    form = client.get("/exercises/new").get_data(as_text=True)
    assert "Mulai latihan" in form and "Latihan: hoaks air PDAM tercemar" in form
    headers = token_for("supervisor", "KOTA-SEMARANG")
    refused = client.post("/api/v1/exercises", json={"scenario": "nope", "unit_id": 999999}, headers=headers)
    assert refused.status_code == 422 and refused.mimetype == "application/problem+json"
    assert {"scenario", "unit_id"} <= set(refused.get_json()["errors"])
    created = client.post(
        "/api/v1/exercises",
        json={"scenario": "earthquake-information", "unit_id": org["units"]["KOTA-SEMARANG"].id},
        headers=headers,
    )
    assert created.status_code == 201, created.get_data(as_text=True)
    body = created.get_json()
    assert body["playbook"] == "disaster-public-information" and len(body["injects"]) == 4
    incident = client.get(f"/api/v1/incidents/{body['incident_id']}", headers=headers).get_json()
    assert incident["exercise_id"] == body["id"] and incident["title"].startswith("[LATIHAN]")
    real_list = client.get("/api/v1/incidents", headers=headers).get_json()
    drills = client.get("/api/v1/incidents?exercises=true", headers=headers).get_json()
    assert body["incident_id"] not in [i["id"] for i in real_list]
    assert [i["id"] for i in drills] == [body["incident_id"]]


def test_the_unit_head_sets_the_yearly_target_on_the_readiness_page_and_the_situation_room_shows_it(
    app, db, org, login_as
):
    _real, _drill = _one_real_one_exercise(db, org)
    unit = org["units"]["KOTA-SEMARANG"]
    client = login_as("head", "KOTA-SEMARANG")
    page = client.get(f"/units/{unit.id}/readiness").get_data(as_text=True)
    assert "Kesiapan latihan" in page and "Klarifikasi hoaks" in page
    refused = client.post(
        f"/units/{unit.id}/readiness/target",
        data={"csrf_token": _token(client, f"/units/{unit.id}/readiness"), "year": str(T0.year), "target": "999"},
    )
    assert refused.status_code == 422 and "Tulis jumlah latihan dari 0 sampai 52." in refused.get_data(as_text=True)
    saved = client.post(
        f"/units/{unit.id}/readiness/target",
        data={"csrf_token": _token(client, f"/units/{unit.id}/readiness"), "year": str(T0.year), "target": "4"},
    )
    assert saved.status_code == 302
    assert f"1 dari 4 ({T0.year})" in client.get(f"/units/{unit.id}/readiness").get_data(as_text=True)
    national = app.test_client()
    sign_in(national, org["users"][("PUSAT", "head")].email)
    room = national.get("/situation").get_data(as_text=True)
    assert 'id="readiness"' in room and "JATENG" in room.split('id="readiness"')[1]


def _token(client, path):
    import re

    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


def test_a_drill_cancelled_on_its_incident_page_has_ended_and_its_injects_stop(db, org):
    from crisis.escalation.models import Timer

    _real, drill = _one_real_one_exercise(db, org)
    incident_service.cancel(
        session=db.session,
        actor=org["users"][("KOTA-SEMARANG", "head")],
        incident_id=drill.id,
        reason="Latihan dihentikan: listrik padam.",
        now=T0 + timedelta(minutes=5),
    )
    db.session.commit()
    assert drill.exercise.ended_at == T0 + timedelta(minutes=5)
    states = set(db.session.scalars(select(Timer.state).where(Timer.incident_id == drill.id, Timer.kind == "inject")))
    assert states == {"cancelled"}


def test_sops_load_publishes_changed_scenarios_and_nothing_when_one_is_invalid(app, db, org, tmp_path):
    runner = app.test_cli_runner()
    same = runner.invoke(main, ["sops", "load", str(SOPS)])
    assert same.exit_code == 0, same.output
    assert "exercises/hoax-pdam-water" in same.output and "v1   unchanged" in same.output
    library = tmp_path / "sops"
    (library / "exercises").mkdir(parents=True)
    for path in library_files(SOPS):
        (library / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    changed = GOOD.replace("reach: 45000", "reach: 90000")
    (library / "exercises" / "hoax-pdam-water.yaml").write_text(changed, encoding="utf-8")
    (library / "exercises" / "broken.yaml").write_text(
        GOOD.replace("key: hoax-pdam-water", "key: broken", 1).replace("at: 40m", "at: 40"), encoding="utf-8"
    )
    refused = runner.invoke(main, ["sops", "load", str(library)])
    assert refused.exit_code == 1 and "broken.yaml:" in refused.output and "plain number" in refused.output
    db.session.rollback()
    assert scenarios.current(session=db.session, key="hoax-pdam-water").number == 1
    (library / "exercises" / "broken.yaml").unlink()
    loaded = runner.invoke(main, ["sops", "load", str(library)])
    assert loaded.exit_code == 0 and "v2   published" in loaded.output
    db.session.rollback()
    assert scenarios.current(session=db.session, key="hoax-pdam-water").canonical["issue"]["reach"] == 90000


def test_the_scenario_json_schema_describes_the_shipped_scenarios_for_editors():
    import json

    import jsonschema
    import yaml
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    base = json.loads((SOPS / "schema.json").read_text(encoding="utf-8"))
    schema = json.loads((SOPS / "exercises" / "schema.json").read_text(encoding="utf-8"))
    schema["$id"] = "https://crisis.invalid/sops/exercises/schema.json"  # what an editor does with the file's path
    registry = Registry().with_resource(
        "https://crisis.invalid/sops/schema.json", Resource.from_contents(base, default_specification=DRAFT202012)
    )
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema, registry=registry)
    for path in scenarios.scenario_files(SOPS):
        validator.validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    wrong = yaml.safe_load(GOOD)
    wrong["injects"][0]["notify"] = ["boss@own"]
    assert not validator.is_valid(wrong)
