"""SOPs published as immutable versions: CLI, pages and API."""

from __future__ import annotations

from pathlib import Path

import pytest

from crisis.config import resource_dir
from crisis.playbooks import service as playbooks
from crisis.playbooks.models import Playbook, PlaybookVersion
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
