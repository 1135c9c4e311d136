"""`crisis units import-indonesia`: the country's tree with Kemendagri codes and legal zones."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from crisis.cli import main
from crisis.units import indonesia
from crisis.units.models import Unit, UnitKind

WIB, WITA, WIT = "Asia/Jakarta", "Asia/Makassar", "Asia/Jayapura"
# The rules, written out by province name so a wrong code table cannot hide behind itself.
EXPECTED_ZONES = {
    "Aceh": WIB, "Sumatera Utara": WIB, "Sumatera Barat": WIB, "Riau": WIB, "Jambi": WIB,
    "Sumatera Selatan": WIB, "Bengkulu": WIB, "Lampung": WIB, "Kepulauan Bangka Belitung": WIB,
    "Kepulauan Riau": WIB, "Daerah Khusus Ibukota Jakarta": WIB, "Jawa Barat": WIB, "Jawa Tengah": WIB,
    "Daerah Istimewa Yogyakarta": WIB, "Jawa Timur": WIB, "Banten": WIB,
    "Kalimantan Barat": WIB, "Kalimantan Tengah": WIB,
    "Bali": WITA, "Nusa Tenggara Barat": WITA, "Nusa Tenggara Timur": WITA,
    "Kalimantan Selatan": WITA, "Kalimantan Timur": WITA, "Kalimantan Utara": WITA,
    "Sulawesi Utara": WITA, "Sulawesi Tengah": WITA, "Sulawesi Selatan": WITA, "Sulawesi Tenggara": WITA,
    "Gorontalo": WITA, "Sulawesi Barat": WITA,
    "Maluku": WIT, "Maluku Utara": WIT, "Papua": WIT, "Papua Barat": WIT, "Papua Selatan": WIT,
    "Papua Tengah": WIT, "Papua Pegunungan": WIT, "Papua Barat Daya": WIT,
}  # fmt: skip


def _run(app: Any, *args: str) -> Any:
    return app.test_cli_runner().invoke(main, ["units", "import-indonesia", *args])


def _kemendagri_units(db: Any, kind: str) -> list[Unit]:
    """The units of a kind that serve an area: by the Kemendagri code they carry (the demo's JATENG
    carries 33) or that is their code."""
    return [u for u in db.session.scalars(select(Unit).where(Unit.kind == kind)) if indonesia.kemendagri_code(u)]


def test_demo_then_import_gives_38_provinces_and_514_regencies_each_in_its_legal_zone_without_duplicates(
    app: Any, org: Any, db: Any
) -> None:
    result = _run(app)
    assert result.exit_code == 0, result.output
    # The demo's nine areas (JATENG = 33, KOTA-SEMARANG = 33.74, ...) are found, not added again.
    assert "543 unit ditambahkan, 0 diperbarui, 9 tidak berubah" in result.output
    provinces = _kemendagri_units(db, UnitKind.province)
    regencies = _kemendagri_units(db, UnitKind.regency)
    assert len(provinces) == 38
    assert len(regencies) == 514
    assert db.session.scalar(select(func.count(Unit.id))) == 1 + 38 + 514  # and the central desk: no duplicate
    central = org["units"]["PUSAT"]
    assert {p.parent_id for p in provinces} == {central.id}
    official = {a.code: a.name for a in indonesia.read_areas()}
    assert {official[p.area_code]: p.timezone for p in provinces} == EXPECTED_ZONES
    by_id = {p.id: p for p in provinces}
    for regency in regencies:
        province = by_id[regency.parent_id]
        assert regency.area_code.startswith(province.area_code + "."), regency.code
        assert regency.timezone == province.timezone, regency.code
    solo = db.session.scalar(select(Unit).where(Unit.code == "33.72"))  # imported: code and name are the area's
    assert (solo.name, solo.area_code, solo.timezone) == ("Kota Surakarta", "33.72", WIB)
    jateng = org["units"]["JATENG"]
    db.session.refresh(jateng)
    # A hand-made unit keeps its code and its office's name; it is the area's unit all the same.
    assert (jateng.code, jateng.area_code, jateng.name) == ("JATENG", "33", "Diskominfo Provinsi Jawa Tengah")
    assert solo.parent_id == jateng.id  # Jawa Tengah's regencies/cities go under JATENG, not a second 33
    assert db.session.scalar(select(Unit).where(Unit.area_code == "33.74")).code == "KOTA-SEMARANG"
    assert db.session.scalar(select(Unit).where(Unit.code == "94.01")).timezone == WIT  # Nabire, Papua Tengah
    assert db.session.scalar(select(Unit).where(Unit.code == "65.01")).timezone == WITA  # Malinau, Kalimantan Utara


def test_second_import_changes_nothing_and_a_renamed_area_is_updated_not_duplicated(
    app: Any, org: Any, db: Any
) -> None:
    # The first run had an older table: one regency missing (a new area since) and one name outdated.
    older = [a for a in indonesia.read_areas() if a.code != "33.29"]
    older = [indonesia.Area(a.code, "Kota Sala", a.parent_code) if a.code == "33.72" else a for a in older]
    indonesia.import_areas(session=db.session, central=org["units"]["PUSAT"], only="33", areas=older)
    db.session.commit()
    count = db.session.scalar(select(func.count(Unit.id)))

    current = _run(app, "--only", "33")
    assert current.exit_code == 0, current.output
    assert "1 unit ditambahkan, 1 diperbarui, 34 tidak berubah" in current.output
    db.session.expire_all()
    assert db.session.scalar(select(func.count(Unit.id))) == count + 1
    solo = db.session.scalar(select(Unit).where(Unit.code == "33.72"))
    assert (solo.name, solo.timezone) == ("Kota Surakarta", WIB)
    assert db.session.scalar(select(Unit).where(Unit.code == "33.29")).name == "Kabupaten Brebes"

    again = _run(app, "--only", "33")
    assert again.exit_code == 0, again.output
    assert "0 unit ditambahkan, 0 diperbarui, 36 tidak berubah" in again.output
    assert db.session.scalar(select(func.count(Unit.id))) == count + 1


def test_only_one_province_loads_it_and_its_regencies(app: Any, org: Any, db: Any) -> None:
    result = _run(app, "--only", "91")
    assert result.exit_code == 0, result.output
    areas = {u.area_code: u for u in db.session.scalars(select(Unit).where(Unit.area_code.is_not(None)))}
    papua = {code: u for code, u in areas.items() if code.split(".")[0] == "91"}
    assert len(papua) == 1 + sum(1 for a in indonesia.read_areas() if a.parent_code == "91")
    assert {u.timezone for u in papua.values()} == {WIT}
    assert papua["91"].code == "PAPUA"  # the demo's province, found by the code it carries
    # Nothing outside Papua: the other areas are the demo's own six (Jawa Tengah, Sulawesi Selatan).
    assert sorted(set(areas) - set(papua)) == ["33", "33.02", "33.74", "73", "73.06", "73.71"]


def test_an_area_gone_from_the_dataset_is_kept_and_named(app: Any, org: Any, db: Any) -> None:
    from crisis.units.models import Unit as U

    province = db.session.scalar(select(U).where(U.code == "PUSAT"))
    db.session.add(U(code="33.99", name="Kota Lama", kind="province", parent_id=province.id, timezone=WIB))
    db.session.commit()
    result = _run(app, "--only", "33")
    assert result.exit_code == 0, result.output
    assert "33.99" in result.output
    assert db.session.scalar(select(U).where(U.code == "33.99")) is not None


def test_unknown_province_is_refused_and_nothing_is_loaded(app: Any, org: Any, db: Any) -> None:
    before = db.session.scalar(select(func.count(Unit.id)))
    result = _run(app, "--only", "99")
    assert result.exit_code == 2
    assert "99" in result.output
    assert db.session.scalar(select(func.count(Unit.id))) == before


def test_a_unit_created_with_a_kemendagri_code_is_found_by_the_import(app: Any, org: Any, db: Any) -> None:
    runner = app.test_cli_runner()
    created = runner.invoke(
        main,
        ["units", "create", "--code", "DISKOMINFO-NTB", "--name", "Diskominfo Provinsi NTB", "--kind", "province",
         "--parent", "PUSAT", "--timezone", "Asia/Makassar", "--kemendagri", "52"],
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    taken = runner.invoke(
        main,
        ["units", "create", "--code", "NTB-2", "--name", "Lagi", "--kind", "province", "--parent", "PUSAT",
         "--kemendagri", "52"],
    )  # fmt: skip
    assert taken.exit_code == 2 and "--kemendagri" in taken.output
    result = _run(app, "--only", "52")
    assert result.exit_code == 0, result.output
    provinces = db.session.scalars(select(Unit).where(Unit.area_code == "52")).all()
    assert [p.code for p in provinces] == ["DISKOMINFO-NTB"]
    assert {u.parent_id for u in db.session.scalars(select(Unit).where(Unit.area_code.like("52.%")))} == {
        provinces[0].id
    }
