"""People in bulk: `crisis users import people.csv` and the admins' upload page."""

from __future__ import annotations

from sqlalchemy import func, select

from crisis.auth import people_import
from crisis.auth.models import Membership, User
from crisis.cli import main
from tests.conftest import form_post

HEADER = "name,email,unit_code,role,phone,language\n"
GOOD = (
    HEADER
    + "Siti Rahma,siti.rahma@jatengprov.go.id,KOTA-SEMARANG,officer,+62 812-3456-7890,id\n"
    + "Budi Santoso,budi.santoso@jatengprov.go.id,KAB-BANYUMAS,supervisor,0281-123456,en\n"
    + "Budi Santoso,budi.santoso@jatengprov.go.id,KOTA-SEMARANG,observer,0281-123456,en\n"
)
BAD = (
    HEADER
    + "Siti Rahma,siti.rahma@jatengprov.go.id,KOTA-SEMARANG,officer,+62 812-3456-7890,id\n"
    + ",bukan-alamat,KOTA-ENTAH,bos,telepon?,fr\n"
    + "Budi Santoso,budi.santoso@jatengprov.go.id,KAB-BANYUMAS,supervisor,,id\n"
)


def _counts(db):
    return db.session.scalar(select(func.count(User.id))), db.session.scalar(select(func.count(Membership.id)))


def _cli(app, tmp_path, text, *args):
    path = tmp_path / "people.csv"
    path.write_text(text, encoding="utf-8")
    return app.test_cli_runner().invoke(main, ["users", "import", str(path), *args])


def test_check_lists_every_rows_problem_by_row_and_column_and_writes_nothing(app, db, org, tmp_path):
    before = _counts(db)
    result = _cli(app, tmp_path, BAD, "--dry-run")
    assert result.exit_code == 2
    problems = people_import.parse(BAD)[1]
    assert {(p.row, p.column) for p in problems} == {
        (3, "name"),
        (3, "email"),
        (3, "role"),
        (3, "phone"),
        (3, "language"),
    }
    for column in ("name", "email", "unit_code", "role", "phone", "language"):
        assert f", {column}:" in result.output or f" {column}:" in result.output, (column, result.output)
    assert "KOTA-ENTAH" in result.output  # the unknown unit is named
    assert _counts(db) == before


def test_real_run_with_one_bad_row_writes_nothing(app, db, org, tmp_path):
    before = _counts(db)
    result = _cli(app, tmp_path, BAD)
    assert result.exit_code == 2
    db.session.expire_all()
    assert _counts(db) == before
    assert db.session.scalar(select(User).where(User.email == "siti.rahma@jatengprov.go.id")) is None


def test_import_adds_people_with_roles_and_a_second_run_changes_nothing(app, db, org, tmp_path):
    users, memberships = _counts(db)
    check = _cli(app, tmp_path, GOOD, "--dry-run")
    assert check.exit_code == 0, check.output
    assert _counts(db) == (users, memberships)

    first = _cli(app, tmp_path, GOOD)
    assert first.exit_code == 0, first.output
    db.session.expire_all()
    assert _counts(db) == (users + 2, memberships + 3)
    budi = db.session.scalar(select(User).where(User.email == "budi.santoso@jatengprov.go.id"))
    assert (budi.name, budi.phone, budi.language) == ("Budi Santoso", "0281-123456", "en")
    assert sorted((m.unit.code, m.role) for m in budi.memberships) == [
        ("KAB-BANYUMAS", "supervisor"),
        ("KOTA-SEMARANG", "observer"),
    ]

    again = people_import.run(session=db.session, actor=None, text=GOOD, dry_run=False)
    assert (again.created, again.updated, again.roles_added, again.roles_changed) == ([], [], 0, 0)
    assert len(again.unchanged) == 2


def test_a_person_already_present_is_updated_not_duplicated(app, db, org, tmp_path):
    assert _cli(app, tmp_path, GOOD).exit_code == 0
    users, memberships = _counts(db)
    renamed = GOOD.replace("Siti Rahma,", "Siti Rahmawati,").replace(
        "KOTA-SEMARANG,officer", "KOTA-SEMARANG,supervisor"
    )
    result = _cli(app, tmp_path, renamed)
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    assert _counts(db) == (users, memberships)
    siti = db.session.scalar(select(User).where(User.email == "siti.rahma@jatengprov.go.id"))
    assert siti.name == "Siti Rahmawati"
    assert [(m.unit.code, m.role) for m in siti.memberships] == [("KOTA-SEMARANG", "supervisor")]


def test_an_e_mail_in_capitals_is_the_same_person(db, org):
    present = org["users"][("KOTA-SEMARANG", "officer")]
    text = HEADER + f"{present.name},{present.email.upper()},KAB-BANYUMAS,officer,,id\n"
    report = people_import.run(session=db.session, actor=None, text=text, dry_run=False)
    assert report.created == [] and report.roles_added == 1
    assert db.session.scalar(select(func.count(User.id)).where(func.lower(User.email) == present.email)) == 1


def test_imported_person_cannot_sign_in_until_given_a_password(client, db, org):
    from crisis.auth import service as people

    people_import.run(session=db.session, actor=None, text=GOOD, dry_run=False)
    db.session.commit()
    assert people.authenticate(session=db.session, email="siti.rahma@jatengprov.go.id", password="!imported") is None


def test_province_admin_checks_then_imports_on_the_upload_page(login_as, db, org):
    client = login_as("admin", "JATENG")
    users, memberships = _counts(db)
    outside = GOOD + "Andi Lolo,andi.lolo@sulselprov.go.id,KOTA-MAKASSAR,officer,,id\n"
    checked = form_post(client, "/admin/users/import", {"csv": outside, "action": "check"})
    page = checked.get_data(as_text=True)
    assert checked.status_code == 422
    assert page.count('class="problem"') == 1
    assert "<td data-label" in page and ">5<" in page  # the row of the file
    assert _counts(db) == (users, memberships)

    checked = form_post(client, "/admin/users/import", {"csv": GOOD, "action": "check"}, page="/admin/users/import")
    assert checked.status_code == 200
    assert 'value="import"' in checked.get_data(as_text=True)
    assert _counts(db) == (users, memberships)

    imported = form_post(client, "/admin/users/import", {"csv": GOOD, "action": "import"})
    assert imported.status_code == 302
    db.session.expire_all()
    assert _counts(db) == (users + 2, memberships + 3)
    # New people have no password yet: the admin is taken to their invitations.
    assert imported.headers["Location"].endswith("/admin/users/invitations")
    assert "Siti Rahma" in client.get(imported.headers["Location"]).get_data(as_text=True)
    listed = client.get("/admin/users").get_data(as_text=True)
    assert "Siti Rahma" in listed and 'href="tel:+62812-3456-7890"' in listed


def test_officer_cannot_open_the_upload_page(login_as):
    client = login_as("officer", "KOTA-SEMARANG")
    assert client.get("/admin/users/import").status_code == 403


def test_a_spreadsheet_saved_with_semicolons_reads_the_same(db, org):
    semicolons = GOOD.replace(",", ";")
    rows, problems = people_import.parse(semicolons)
    assert problems == []
    assert [(r.email, r.unit_code, r.role) for r in rows] == [
        (r.email, r.unit_code, r.role) for r in people_import.parse(GOOD)[0]
    ]


def test_a_file_with_only_its_header_is_a_problem_not_a_success(db, org):
    report = people_import.run(session=db.session, actor=None, text=HEADER, dry_run=False)
    assert [(p.row, p.column) for p in report.problems] == [(1, "")]
    assert not report.written


def test_a_legal_reviewer_and_the_institution_head_are_imported_with_their_roles(app, db, org, tmp_path):
    text = (
        HEADER
        + "Rudi Hartono,rudi.hartono@jatengprov.go.id,JATENG,legal,,id\n"
        + "Sekda Kota Semarang,sekda@semarangkota.go.id,KOTA-SEMARANG,leader,,id\n"
    )
    result = _cli(app, tmp_path, text)
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    roles = {
        user.email: [(m.unit.code, m.role) for m in user.memberships]
        for user in db.session.scalars(select(User).where(User.email.like("%go.id")))
    }
    assert roles == {
        "rudi.hartono@jatengprov.go.id": [("JATENG", "legal")],
        "sekda@semarangkota.go.id": [("KOTA-SEMARANG", "leader")],
    }
    problems = people_import.parse(HEADER + "Ani,ani@example.go.id,JATENG,lawyer,,id\n")[1]
    assert [(p.row, p.column) for p in problems] == [(2, "role")] and "legal atau leader" in problems[0].reason
