"""SOPs published as immutable versions: CLI, pages and API."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from crisis.config import resource_dir
from crisis.playbooks import library_doc
from crisis.playbooks import service as playbooks
from crisis.playbooks.models import Playbook, PlaybookVersion
from crisis.playbooks.spec import WorkingDays
from crisis.playbooks.validator import validate_text
from tests.conftest import form_post
from tests.helpers import crisis_env, invoke_crisis

SOPS = resource_dir("sops")


def _hoax_text() -> str:
    return (SOPS / "hoax-clarification.yaml").read_text(encoding="utf-8")


def _with_first_target(text: str, new_target: str) -> str:
    """The hoax SOP with its first stage's target changed (a real content change)."""
    spec = validate_text(text).spec
    first = spec.stages[0]
    old_line = next(line for line in text.splitlines() if line.strip().startswith("target:"))
    assert first.key in text
    return text.replace(old_line, old_line.split("target:")[0] + f"target: {new_target}", 1)


def test_every_library_file_is_published_by_the_demo_seed(db, org):
    keys = {p.key for p in db.session.query(Playbook)}
    assert keys == {path.stem for path in SOPS.glob("*.yaml")}
    assert len(keys) >= 7


def test_publishing_the_same_content_twice_makes_one_version(db, org):
    again = playbooks.publish(session=db.session, actor=None, text=_hoax_text())
    assert again.created is False and again.version.number == 1
    reformatted = "# a comment changes nothing\n" + _hoax_text()
    assert playbooks.publish(session=db.session, actor=None, text=reformatted).created is False
    assert db.session.query(PlaybookVersion).join(Playbook).filter(Playbook.key == "hoax-clarification").count() == 1


def test_a_changed_target_makes_version_two_and_the_change_is_listed(db, org):
    result = playbooks.publish(session=db.session, actor=None, text=_with_first_target(_hoax_text(), "7m"))
    db.session.commit()
    assert result.created and result.version.number == 2
    changes = playbooks.version_changes(result.version)
    target_changes = [c for c in changes if c.what == "target"]
    assert len(target_changes) == 1 and target_changes[0].after == "7m"
    old = playbooks.get_version(session=db.session, key="hoax-clarification", number=1)
    assert old.spec.stages[0].target_for(1) != result.version.spec.stages[0].target_for(1)


def test_published_versions_never_change(db, org):
    version = playbooks.get_version(session=db.session, key="hoax-clarification")
    version.source_yaml = "tampered"
    with pytest.raises(RuntimeError, match="immutable"):
        db.session.commit()
    db.session.rollback()


def test_export_then_load_gives_the_same_hash(db, org):
    version = playbooks.get_version(session=db.session, key="data-leak-cyber")
    exported = playbooks.export_yaml(version)
    assert validate_text(exported).spec.content_hash() == version.content_hash
    assert playbooks.publish(session=db.session, actor=None, text=exported).created is False


def test_cli_validate_load_and_export(tmp_path, pg_url):
    env = crisis_env(CRISIS_INSTANCE_PATH=str(tmp_path / "instance"))
    assert invoke_crisis("db", "upgrade", env=env).returncode == 0
    ok = invoke_crisis("sops", "validate", env=env)
    assert ok.returncode == 0 and "playbook(s) valid" in ok.stdout
    bad = tmp_path / "hoax-clarification.yaml"
    bad.write_text(_hoax_text().replace("target:", "targt:", 1), encoding="utf-8")
    invalid = invoke_crisis("sops", "validate", str(bad), env=env)
    assert invalid.returncode == 1
    line = next(i for i, text in enumerate(bad.read_text().splitlines(), 1) if "targt:" in text)
    assert f"{bad}:{line}:" in invalid.stdout and "did you mean 'target'" in invalid.stdout
    # One bad file among good ones: nothing is published.
    good = SOPS / "policy-backlash.yaml"
    refused = invoke_crisis("sops", "load", str(good), str(bad), env=env)
    assert refused.returncode == 1 and "nothing published" in refused.stderr
    first = invoke_crisis("sops", "load", env=env)
    assert first.returncode == 0 and first.stdout.count("published") >= 7
    second = invoke_crisis("sops", "load", env=env)
    assert "published" not in second.stdout.replace("unchanged", "") and second.stdout.count("unchanged") >= 7
    exported = invoke_crisis("sops", "export", "policy-backlash", env=env)
    out = tmp_path / "policy-backlash.yaml"
    out.write_text(exported.stdout, encoding="utf-8")
    assert "unchanged" in invoke_crisis("sops", "load", str(out), env=env).stdout
    missing = invoke_crisis("sops", "export", "no-such-sop", env=env)
    assert missing.returncode != 0 and "no-such-sop" in missing.stderr


def test_cli_load_takes_folders_and_files_in_name_order_and_a_bad_file_loads_nothing(tmp_path, pg_url):
    env = crisis_env(CRISIS_INSTANCE_PATH=str(tmp_path / "instance"))
    assert invoke_crisis("db", "upgrade", env=env).returncode == 0
    folder = tmp_path / "library"
    folder.mkdir()
    for name in ("data-leak-cyber.yml", "hoax-clarification.yaml", "policy-backlash.yml"):
        (folder / name).write_text((SOPS / f"{Path(name).stem}.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    (folder / "notes.txt").write_text("not a playbook", encoding="utf-8")
    broken = tmp_path / "broken"
    broken.mkdir()
    bad = broken / "hoax-clarification.yaml"
    bad.write_text(_hoax_text().replace("target:", "targt:", 1), encoding="utf-8")
    line = next(i for i, text in enumerate(bad.read_text().splitlines(), 1) if "targt:" in text)
    single = SOPS / "viral-service-complaint.yaml"

    refused = invoke_crisis("sops", "load", str(folder), str(single), str(broken), env=env)
    assert refused.returncode == 1 and f"{bad}:{line}:" in refused.stdout and "nothing published" in refused.stderr
    assert invoke_crisis("sops", "export", "policy-backlash", env=env).returncode != 0  # nothing was published

    loaded = invoke_crisis("sops", "load", str(single), str(folder), str(folder / "policy-backlash.yml"), env=env)
    assert loaded.returncode == 0, loaded.stderr
    in_order = sorted([*folder.glob("*.y*ml"), single])  # each file once, by path: .yml among .yaml, not after
    assert [line.split()[0] for line in loaded.stdout.splitlines()] == [path.stem for path in in_order]
    assert loaded.stdout.count(" published") == 4

    empty = tmp_path / "empty"
    empty.mkdir()
    nothing = invoke_crisis("sops", "load", str(folder), str(empty), env=env)
    assert nothing.returncode == 2 and str(empty) in nothing.stderr and nothing.stdout == ""


def test_only_central_admins_publish_through_the_api(client, org, token_for):
    body = {"yaml": _with_first_target(_hoax_text(), "9m"), "filename": "hoax-clarification.yaml"}
    assert client.post("/api/v1/playbooks", json=body, headers=token_for("officer", "PUSAT")).status_code == 403
    assert client.post("/api/v1/playbooks", json=body, headers=token_for("admin", "JATENG")).status_code == 403
    admin = token_for("admin", "PUSAT")
    created = client.post("/api/v1/playbooks", json=body, headers=admin)
    assert created.status_code == 201 and created.get_json()["version"]["number"] == 2
    again = client.post("/api/v1/playbooks", json=body, headers=admin)
    assert again.status_code == 200 and again.get_json()["created"] is False
    versions = client.get("/api/v1/playbooks/hoax-clarification/versions", headers=admin).get_json()
    assert [v["number"] for v in versions] == [1, 2]
    v1 = client.get("/api/v1/playbooks/hoax-clarification/versions/1", headers=admin).get_json()
    assert v1["playbook"]["key"] == "hoax-clarification" and v1["yaml"] == _hoax_text()


def test_api_validate_answers_with_lines_and_publishes_nothing(client, db, org, token_for):
    response = client.post(
        "/api/v1/playbooks/validate",
        headers=token_for("officer", "KAB-GOWA"),
        json={"yaml": "key: x\ntitle: [unclosed\n"},
    )
    body = response.get_json()
    assert response.status_code == 200 and body["ok"] is False
    assert body["problems"][0]["line"] >= 2 and body["problems"][0]["message"]
    bad_publish = client.post(
        "/api/v1/playbooks",
        headers=token_for("admin", "PUSAT"),
        json={"yaml": _hoax_text().replace("target:", "targt:", 1)},
    )
    assert bad_publish.status_code == 422
    assert "did you mean 'target'" in bad_publish.get_json()["errors"]["yaml"][0]
    assert db.session.query(PlaybookVersion).count() == len(list(SOPS.glob("*.yaml")))


def test_library_filters_by_category_and_severity(client, org, token_for):
    headers = token_for("officer", "KOTA-JAYAPURA")
    hoax = client.get("/api/v1/playbooks?category=hoax", headers=headers).get_json()
    assert [p["key"] for p in hoax] == ["hoax-clarification"]
    bad = client.get("/api/v1/playbooks?severity=9", headers=headers)
    assert bad.status_code == 422 and "severity" in bad.get_json()["errors"]


def test_playbook_page_reads_like_the_printed_sop(login_as):
    client = login_as("supervisor", "JATENG")
    page = client.get("/playbooks/hoax-clarification").get_data(as_text=True)
    assert "Jika tahap ini belum selesai" in page
    assert "Klarifikasi hoaks" in page
    library = client.get("/playbooks?category=data_leak").get_data(as_text=True)
    assert "data-leak-cyber" in library and "hoax-clarification" not in library


def test_editor_shows_errors_next_to_the_line_and_publishes_nothing(login_as, db):
    client = login_as("admin", "PUSAT")
    text = _hoax_text().replace("target:", "targt:", 1)
    before = db.session.query(PlaybookVersion).count()
    page = form_post(client, "/playbooks/publish", {"yaml": text, "action": "publish"}).get_data(as_text=True)
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "targt:" in t)
    assert f'id="line-{line}"' in page and "maksud Anda &#39;target&#39;?" in page  # in the admin's language
    assert db.session.query(PlaybookVersion).count() == before
    published = form_post(
        client,
        "/playbooks/publish",
        {"yaml": _with_first_target(_hoax_text(), "8m"), "action": "publish"},
        page="/playbooks/publish",
    )
    assert published.status_code == 302 and published.headers["Location"].endswith("/hoax-clarification/v2")


def test_non_admin_cannot_open_the_editor(login_as):
    assert login_as("head", "PUSAT").get("/playbooks/publish").status_code == 403


def test_schema_file_is_served_with_the_library():
    assert (Path(SOPS) / "schema.json").exists()


# --- the library a Diskominfo head signs (issue 19) ----------------------------------------------------

LIBRARY_FILES = sorted(SOPS.glob("*.yaml"))
ROOT = Path(__file__).resolve().parent.parent


def _spec(key: str) -> Any:
    spec = validate_text((SOPS / f"{key}.yaml").read_text(encoding="utf-8")).spec
    assert spec is not None
    return spec


def _texts(spec: Any) -> Iterator[tuple[str, Any]]:
    """Every bilingual text of a playbook, with where it is."""
    yield "title", spec.title
    yield "description", spec.description
    for stage in spec.stages:
        yield f"{stage.key}.title", stage.title
        yield f"{stage.key}.guidance", stage.guidance
        for item in stage.checklist:
            yield f"{stage.key}.{item.key}", item.text


# Statement stages (a public statement is their point) and items that publish one: `publish-*`.
STATEMENT_STAGES = {"holding-statement", "clarify", "first-message", "public-warning", "response", "full-statement"}


def test_the_library_holds_at_least_twelve_valid_playbooks_and_the_new_kinds() -> None:
    assert len(LIBRARY_FILES) >= 12
    results = {path.stem: validate_text(path.read_text(encoding="utf-8")) for path in LIBRARY_FILES}
    assert {key: [str(p) for p in r.problems] for key, r in results.items() if r.problems} == {}
    assert {
        "hacked-site-account",
        "health-outbreak-klb",
        "election-period-issue",
        "mass-demonstration",
        "digital-service-outage",
        "official-gaffe",
    } <= set(results)


@pytest.mark.parametrize("path", LIBRARY_FILES, ids=lambda p: p.stem)
def test_every_text_is_bilingual_and_every_stage_guides_the_team(path: Path) -> None:
    spec = _spec(path.stem)
    for where, text in _texts(spec):
        assert text.id.strip() and text.en.strip(), where
        assert text.id.strip() != text.en.strip() or len(text.id) < 12, f"{where}: not translated"
    for stage in spec.stages:
        # Guidance a head can sign: more than a heading, in both languages.
        assert len(stage.guidance.id.split()) >= 15 and len(stage.guidance.en.split()) >= 15, stage.key
        assert any(item.required for item in stage.checklist), stage.key
    assert spec.settings.review_due == timedelta(days=7)


@pytest.mark.parametrize("path", LIBRARY_FILES, ids=lambda p: p.stem)
def test_severity_one_forces_no_public_statement(path: Path) -> None:
    spec = _spec(path.stem)
    if 1 not in spec.severities:
        return
    for stage in spec.stages:
        if not stage.applies_to(1):
            continue
        assert stage.key not in STATEMENT_STAGES or not any(
            item.required_at(1) for item in stage.checklist if item.key.startswith("publish-")
        ), stage.key
        published = [item.key for item in stage.checklist if item.key.startswith("publish-") and item.required_at(1)]
        assert published == [], f"{stage.key}: {published} required at severity 1"
    # ... and something replaces it: a direct reply (a stage or an item) at severity 1.
    replies = [
        item.key
        for stage in spec.stages
        if stage.applies_to(1)
        for item in stage.checklist
        if item.required_at(1) and ("repl" in item.key or "answer" in item.key or "hearing" in item.key)
    ]
    assert replies, "no direct reply at severity 1"


@pytest.mark.parametrize("path", LIBRARY_FILES, ids=lambda p: p.stem)
def test_escalation_follows_severity(path: Path) -> None:
    """The first stage tells the own head within 10 minutes at severity 3-4 and later at 1-2; a
    severity-1 issue never pages the province or the national desk."""
    spec = _spec(path.stem)
    first = spec.stages[0]

    def told(severity: int, role: str, scope: str) -> list[timedelta]:
        return [
            step.after.for_severity(severity)
            for stage in spec.stages
            if stage is first or role != "head" or scope != "own"
            for step in stage.escalation
            if stage.applies_to(severity) and step.applies_to(severity)
            for selector in step.notify
            if selector.role == role and selector.scope == scope and selector.applies_to(severity)
        ]

    if spec.category == "public_complaint":  # complaints run on working days, not minutes
        return
    for severity in (3, 4):
        if severity in spec.severities:
            assert min(told(severity, "head", "own")) <= timedelta(minutes=10), severity
    low = [s for s in (1, 2) if s in spec.severities]
    for severity in low:  # later, or not in the first stage at all
        assert all(after > timedelta(minutes=10) for after in told(severity, "head", "own")), severity
    if 1 in spec.severities:
        assert told(1, "head", "province") == [] and told(1, "on_duty", "central") == []


@pytest.mark.parametrize("path", LIBRARY_FILES, ids=lambda p: p.stem)
def test_monitoring_cadence_tightens_with_severity(path: Path) -> None:
    spec = _spec(path.stem)
    if spec.category == "public_complaint":  # there the severity is the complaint class (5/14/60 working days)
        return
    cadence = [spec.settings.update_every_for(s) for s in spec.severities]
    assert cadence == sorted(cadence, reverse=True)
    assert cadence[-1] < cadence[0] and cadence[0] <= timedelta(hours=24)


def test_the_data_leak_notice_runs_from_the_known_time_to_komdigi_and_bssn_is_required() -> None:
    spec = _spec("data-leak-cyber")
    verify = spec.stages[0]
    recorder = next(item for item in verify.checklist if item.records == "known_at")
    assert recorder.required
    notice = next(stage for stage in spec.stages if stage.key == "written-notice")
    assert notice.measured_from == "known_at" and notice.target_for(2) == timedelta(hours=72)
    csirt = next(item for item in verify.checklist if item.key == "report-to-csirt")
    assert csirt.required and all(csirt.required_at(s) for s in spec.severities) and "BSSN" in csirt.text.id
    agency = next(item for item in notice.checklist if item.key == "notify-supervising-agency")
    assert agency.required and "Komdigi" in agency.text.id
    assert "deface" in spec.description.id


def test_a_hacked_site_or_account_has_no_three_day_notice_but_reports_to_bssn() -> None:
    spec = _spec("hacked-site-account")
    assert all(stage.measured_from != "known_at" for stage in spec.stages)
    assert all(stage.target_for(s) != timedelta(hours=72) for stage in spec.stages for s in spec.severities)
    items = {item.key: item for stage in spec.stages for item in stage.checklist}
    assert items["report-to-csirt"].required and items["check-personal-data"].required


def test_lapor_counts_working_days_by_complaint_class_without_a_dispute_stage() -> None:
    spec = _spec("public-complaint-lapor")
    keys = [stage.key for stage in spec.stages]
    assert "dispute" not in keys and not any("sanggah" in stage.title.id.lower() for stage in spec.stages)
    resolve = next(stage for stage in spec.stages if stage.key == "resolve")
    assert [str(resolve.target_for(s)) for s in (1, 2, 3)] == ["5wd", "14wd", "60wd"]
    assert all(isinstance(stage.target_for(1), WorkingDays) for stage in spec.stages)


def test_hoax_checks_for_an_existing_debunk_and_goes_to_komdigi_for_its_label() -> None:
    spec = _spec("hoax-clarification")
    items = {item.key: item for stage in spec.stages for item in stage.checklist}
    assert items["check-existing-debunk"].required and items["check-existing-debunk"].evidence
    labelling = items["report-to-ministry"]
    assert labelling.required and "label" in labelling.text.id and "Komdigi" in labelling.text.id
    clarify = next(stage for stage in spec.stages if stage.key == "clarify")
    assert not clarify.applies_to(1)


def test_disaster_takes_hazards_from_bmkg_and_pvmbg_and_updates_on_a_cycle() -> None:
    spec = _spec("disaster-public-information")
    assert "BMKG" in spec.description.id and "PVMBG" in spec.description.id
    for status in ("siaga darurat", "tanggap darurat", "transisi darurat"):
        assert status in spec.description.id
    updates = next(stage for stage in spec.stages if stage.key == "updates")
    assert updates.cycle is not None and updates.cycle.every_for(4) < updates.cycle.every_for(2)


def test_misconduct_is_examined_by_the_direct_superior_and_the_gaffe_is_its_own_playbook() -> None:
    spec = _spec("official-misconduct-viral")
    assert "PP 94/2021" in spec.description.id
    items = {item.key: item for stage in spec.stages for item in stage.checklist}
    assert items["superior-summons"].required and "atasan langsung" in items["superior-summons"].text.id.lower()
    gaffe, policy = _spec("official-gaffe"), _spec("policy-backlash")
    assert gaffe.category == "official_conduct" and "ucapan" not in policy.title.id.lower()


def test_high_severity_brings_the_crisis_team_the_leader_and_the_single_narrative() -> None:
    """Every playbook that reaches severity 3 activates the crisis communication team (or, for a
    complaint, does not reach it) and aligns the single narrative or names the leader's clearance."""
    missing = []
    for path in LIBRARY_FILES:
        spec = _spec(path.stem)
        if 3 not in spec.severities or spec.category == "public_complaint":
            continue
        texts = " ".join(t.id for _w, t in _texts(spec))
        missing += [
            f"{spec.key}: {word}" for word in ("tim komunikasi krisis", "pimpinan instansi") if word not in texts
        ]
        if "narasi" not in texts and "Komdigi" not in texts:
            missing.append(f"{spec.key}: narasi / Komdigi")
        team = [i for s in spec.stages for i in s.checklist if i.key == "activate-crisis-team"]
        if not (team and all(i.required_at(3) and i.required_at(4) for i in team)):
            missing.append(f"{spec.key}: a required activate-crisis-team item at severity 3-4")
    assert missing == []


def test_the_readme_lists_every_playbook_with_its_targets() -> None:
    specs = [_spec(path.stem) for path in LIBRARY_FILES]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert library_doc.current_section(readme) == library_doc.library_markdown(specs), (
        "README.md is stale: run `crisis sops list --readme README.md`"
    )
    for spec in specs:
        assert f"(`{spec.key}`)" in readme


def test_sops_list_rewrites_a_stale_readme_section_and_refuses_one_without_markers(tmp_path, pg_url):
    env = crisis_env(CRISIS_INSTANCE_PATH=str(tmp_path / "instance"))
    stale = tmp_path / "README.md"
    stale.write_text(f"# x\n\n{library_doc.BEGIN}\nold table\n{library_doc.END}\n\n## After\n", encoding="utf-8")
    done = invoke_crisis("sops", "list", "--readme", str(stale), env=env)
    assert done.returncode == 0, done.stderr
    text = stale.read_text(encoding="utf-8")
    assert "old table" not in text and text.endswith("## After\n") and "`hoax-clarification`" in text
    markdown = invoke_crisis("sops", "list", "--markdown", env=env)
    assert library_doc.current_section(text) == markdown.stdout
    bare = tmp_path / "BARE.md"
    bare.write_text("# nothing to replace\n", encoding="utf-8")
    refused = invoke_crisis("sops", "list", "--readme", str(bare), env=env)
    assert refused.returncode == 2 and "sops:begin" in refused.stderr
    assert bare.read_text(encoding="utf-8") == "# nothing to replace\n"


@pytest.mark.parametrize("path", LIBRARY_FILES, ids=lambda p: p.stem)
def test_statements_are_cleared_by_the_pr_units_lead_and_at_three_and_four_by_the_leader_with_a_spokesperson(
    path: Path,
):
    spec = _spec(path.stem)
    settings = spec.settings
    # Journalists get an answer sooner as the severity rises, and never later than 4 hours.
    media = [settings.media_answer_within_for(s) for s in spec.severities]
    assert media == sorted(media, reverse=True) and media[0] <= timedelta(hours=4)
    if spec.category == "public_complaint":  # the complaint's final answer is approved by a superior
        return
    roles = [step.role for step in settings.approval]
    # The PR unit clears first (its supervisor or head: crisis.incidents.statements), the head of
    # the institution last.
    assert roles[0] == "supervisor" and roles[-1] == "leader"
    for severity in spec.severities:
        signers = {step.role for _i, step in settings.approval_for("press_release", severity)}
        assert "supervisor" in signers
        assert ("leader" in signers) == (severity >= 3), severity
        # A disaster names its spokesperson from the start; the others from severity 3.
        always = spec.key == "disaster-public-information"
        assert settings.spokesperson_required(severity) == (severity >= 3 or always), severity


def test_legal_review_where_practice_needs_it_and_disaster_updates_last_the_emergency_status():
    legal_everywhere = _spec("data-leak-cyber").settings
    assert all(
        "legal" in {step.role for _i, step in legal_everywhere.approval_for(kind, severity)}
        for kind in ("holding", "press_release", "clarification", "key_messages")
        for severity in (2, 3, 4)
    )
    for key in ("official-misconduct-viral", "official-gaffe", "election-period-issue", "mass-demonstration"):
        settings = _spec(key).settings
        assert "legal" in {step.role for _i, step in settings.approval_for("press_release", 3)}, key
    updates = next(stage for stage in _spec("disaster-public-information").stages if stage.key == "updates")
    assert updates.cycle is not None and updates.cycle.until == "emergency_ends"
