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
    return [
        u for u in db.session.scalars(select(Unit).where(Unit.kind == kind)) if indonesia.KEMENDAGRI_CODE.match(u.code)
    ]


def test_import_loads_38_provinces_and_514_regencies_each_in_its_legal_zone(app: Any, org: Any, db: Any) -> None:
    result = _run(app)
    assert result.exit_code == 0, result.output
    assert "552" in result.output
    provinces = _kemendagri_units(db, UnitKind.province)
    regencies = _kemendagri_units(db, UnitKind.regency)
    assert len(provinces) == 38
    assert len(regencies) == 514
    central = org["units"]["PUSAT"]
    assert {p.parent_id for p in provinces} == {central.id}
    assert {p.name: p.timezone for p in provinces} == EXPECTED_ZONES
    by_id = {p.id: p for p in provinces}
    for regency in regencies:
        province = by_id[regency.parent_id]
        assert regency.code.startswith(province.code + "."), regency.code
        assert regency.timezone == province.timezone, regency.code
    semarang = db.session.scalar(select(Unit).where(Unit.code == "33.74"))
    assert (semarang.name, semarang.timezone) == ("Kota Semarang", WIB)
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
    loaded = [u for u in db.session.scalars(select(Unit)) if indonesia.KEMENDAGRI_CODE.match(u.code)]
    assert {u.code.split(".")[0] for u in loaded} == {"91"}
    assert {u.timezone for u in loaded} == {WIT}
    assert len(loaded) == 1 + sum(1 for a in indonesia.read_areas() if a.parent_code == "91")


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
