"""The unit's letterhead (kop surat): set by its admin, checked, printed on the review PDF and the
monthly evaluation report, which shows its trends as charts."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from pypdf import PdfReader

from crisis.incidents.models import Incident
from crisis.reports import monthly
from crisis.reports.models import MonthlyReport
from crisis.units import letterhead as letterheads
from tests.conftest import FIXED_NOW, csrf_token
from tests.test_reviews import resolve_a_hoax

INSTITUTION = "Pemerintah Kota Semarang · Dinas Komunikasi, Informatika, Statistik dan Persandian"
ADDRESS = "Jl. Pemuda No. 148, Semarang 50132"


@pytest.fixture
def resolved(db, org, built_once):
    """The resolved hoax of tests/test_reviews.py, built once for the suite."""
    return db.session.get(Incident, built_once("resolved hoax", lambda: resolve_a_hoax(db, org, FIXED_NOW).id))


def _image(kind: str, size=(40, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (20, 80, 160)).save(buffer, format=kind)
    return buffer.getvalue()


def _post(client, unit_id, logo=None, filename="logo.png", **fields):
    token = csrf_token(client, "/issues")
    data = {"institution": INSTITUTION, "address": ADDRESS, "csrf_token": token, **fields}
    if logo is not None:
        data["logo"] = (io.BytesIO(logo), filename)
    return client.post(f"/admin/units/{unit_id}/letterhead", data=data, content_type="multipart/form-data")


def _set(db, org, code):
    unit = org["units"][code]
    letterheads.save(
        session=db.session,
        actor=org["users"][("PUSAT", "admin")],
        unit_id=unit.id,
        institution=INSTITUTION,
        address=ADDRESS,
        logo=_image("PNG"),
        now=FIXED_NOW,
    )
    db.session.commit()
    return unit


def test_the_units_admin_sets_the_letterhead_with_a_png_logo(db, org, login_as):
    unit = org["units"]["KOTA-SEMARANG"]
    admin = login_as("admin", "PUSAT")
    page = admin.get(f"/admin/units/{unit.id}/edit")
    assert page.status_code == 200 and 'enctype="multipart/form-data"' in page.get_data(as_text=True)
    response = _post(admin, unit.id, _image("PNG"))
    assert response.status_code == 302
    saved = letterheads.get(session=db.session, unit_id=unit.id)
    assert (saved.institution, saved.address, saved.logo_type) == (INSTITUTION, ADDRESS, "image/png")
    logo = admin.get(f"/units/{unit.id}/logo")
    assert logo.status_code == 200 and logo.mimetype == "image/png" and logo.data == saved.logo
    # A JPEG replaces it; saving without a file keeps it; "remove" removes it.
    assert _post(admin, unit.id, _image("JPEG"), filename="logo.jpg").status_code == 302
    db.session.expire_all()
    assert letterheads.get(session=db.session, unit_id=unit.id).logo_type == "image/jpeg"
    assert _post(admin, unit.id).status_code == 302
    db.session.expire_all()
    assert letterheads.get(session=db.session, unit_id=unit.id).logo_type == "image/jpeg"
    assert _post(admin, unit.id, remove_logo="y").status_code == 302
    db.session.expire_all()
    assert letterheads.get(session=db.session, unit_id=unit.id).logo is None


def test_a_logo_that_is_not_png_or_jpeg_or_too_large_is_refused_next_to_the_field(db, org, login_as):
    unit = org["units"]["KOTA-SEMARANG"]
    admin = login_as("admin", "PUSAT")
    admin.get("/?lang=en")
    for logo, filename in (
        (_image("GIF"), "logo.png"),  # the name says PNG, the bytes do not
        (b"\x89PNG\r\n\x1a\n" + b"not really an image", "logo.png"),
        (_image("PNG", size=(3000, 3000)) + b"\0" * letterheads.MAX_LOGO_BYTES, "big.png"),
    ):
        response = _post(admin, unit.id, logo, filename=filename)
        assert response.status_code == 422
        html = response.get_data(as_text=True)
        assert 'id="lh-logo-msg"' in html and "logo" in html.lower()
        assert letterheads.get(session=db.session, unit_id=unit.id) is None  # nothing saved
    problems = [letterheads.logo_type(data)[1] for data in (_image("GIF"), b"x" * (letterheads.MAX_LOGO_BYTES + 1))]
    assert all(problem is not None for problem in problems)
    assert letterheads.logo_type(_image("PNG")) == ("image/png", None)


def test_only_an_admin_of_the_unit_sets_its_letterhead(db, org, login_as):
    unit = org["units"]["KOTA-SEMARANG"]
    officer = login_as("officer", "KOTA-SEMARANG")
    assert _post(officer, unit.id, _image("PNG")).status_code == 403
    assert letterheads.get(session=db.session, unit_id=unit.id) is None


def test_the_review_pdf_carries_the_letterhead(db, org, resolved, login_as):
    _set(db, org, "KOTA-SEMARANG")
    client = login_as("officer", "KOTA-SEMARANG")
    response = client.get(f"/incidents/{resolved.id}/review.pdf?lang=id")
    assert response.status_code == 200
    reader = PdfReader(io.BytesIO(response.data))
    text = " ".join(" ".join(page.extract_text().split()) for page in reader.pages)
    assert "Jl. Pemuda No. 148" in text and "PEMERINTAH KOTA SEMARANG" in text.upper()
    assert any(page.images for page in reader.pages[:1])  # the logo
    printable = client.get(f"/incidents/{resolved.id}/review.html?lang=id").get_data(as_text=True)
    assert 'class="letterhead"' in printable and "data:image/png;base64," in printable


def test_the_monthly_report_carries_the_letterhead_and_its_trends_as_charts(app, db, org, login_as):
    jateng = _set(db, org, "JATENG")
    month = FIXED_NOW.date().replace(day=1)
    report = MonthlyReport(unit_id=jateng.id, month=month, status="building", requested_at=FIXED_NOW)
    db.session.add(report)
    db.session.flush()
    pdf = monthly.render_monthly_pdf(session=db.session, report=report, now=FIXED_NOW, lang="id")
    text = " ".join(" ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(pdf)).pages)
    assert "Jl. Pemuda No. 148" in text and "Tren" in text
    filters = monthly.monthly_filters(session=db.session, unit=jateng, month=month, now=FIXED_NOW)
    board = monthly.build_dashboard(session=db.session, filters=filters, lang="id")
    with app.test_request_context():
        charts = [str(chart) for chart in monthly.trend_charts(board)]
    assert len(charts) == 3 and all(chart.startswith("<svg") and "<script" not in chart for chart in charts)
    assert all(chart.count("<text") >= len(board.weekly) for chart in charts)  # a label per week
