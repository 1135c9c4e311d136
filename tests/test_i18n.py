"""Both catalogs are complete, and every time a person reads carries its zone."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

from babel.messages.pofile import read_po

from crisis.timefmt import format_local, zone_label
from tests.conftest import FIXED_NOW
from tests.helpers import ROOT


def _catalog(lang):
    with (ROOT / f"crisis/translations/{lang}/LC_MESSAGES/messages.po").open("rb") as handle:
        return read_po(handle, locale=lang)


def test_every_user_visible_string_is_in_both_catalogs(tmp_path):
    pot = tmp_path / "messages.pot"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "babel.messages.frontend",
            "-q",
            "extract",
            "-F",
            "babel.cfg",
            "-k",
            "_l",
            "-k",
            "lazy_gettext",
            "-o",
            str(pot),
            ".",
        ],
        cwd=ROOT,
        check=True,
    )
    with pot.open("rb") as handle:
        extracted = {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(handle) if m.id}
    for lang in ("id", "en"):
        catalog = _catalog(lang)
        translated = {
            (m.id if isinstance(m.id, str) else m.id[0])
            for m in catalog
            if m.id and not m.fuzzy and (all(m.string) if isinstance(m.string, tuple) else m.string)
        }
        missing = sorted(extracted - translated)
        assert missing == [], f"{lang}: run `make messages` and translate: {missing[:10]}"


def test_indonesian_keeps_placeholders():
    for message in _catalog("id"):
        if message.id and isinstance(message.id, str) and message.string:
            for placeholder in ("%(n)d", "%(code)s", "%(kind)s", "%(email)s"):
                assert (placeholder in message.id) == (placeholder in message.string), message.id


def test_zone_labels_for_the_three_indonesian_zones():
    assert [zone_label(z) for z in ("Asia/Jakarta", "Asia/Makassar", "Asia/Jayapura")] == ["WIB", "WITA", "WIT"]
    assert zone_label("Asia/Kolkata", FIXED_NOW) == "UTC+5:30"


def test_times_render_in_the_viewers_zone(app):
    moment = FIXED_NOW.replace(hour=3, minute=0)  # 03:00 UTC on FIXED_NOW's day
    with app.test_request_context():
        # Indonesian (the default language) writes hours and minutes with a dot.
        assert format_local(moment, "Asia/Jakarta", "HH:mm") == "10.00 WIB"
        assert format_local(moment, "Asia/Makassar", "HH:mm") == "11.00 WITA"
        assert format_local(moment, "Asia/Jayapura", "HH:mm") == "12.00 WIT"
        late = FIXED_NOW.replace(hour=16, minute=30)  # 23:30 WIB, but the next day further east
        next_day = (late.date() + timedelta(days=1)).strftime("%d/%m")
        assert format_local(late, "Asia/Jakarta", "dd/MM HH:mm") == late.strftime("%d/%m") + " 23.30 WIB"
        assert format_local(late, "Asia/Makassar", "dd/MM HH:mm") == next_day + " 00.30 WITA"
        assert format_local(late, "Asia/Jayapura", "dd/MM HH:mm") == next_day + " 01.30 WIT"


def test_user_language_choice_is_remembered(login_as, org, db):
    client = login_as("observer", "PUSAT")  # Maya reads in English
    assert "Sign out" in client.get("/").get_data(as_text=True)
    from tests.conftest import form_post

    form_post(client, "/language", {"language": "id", "next": "/"}, page="/")
    assert "Keluar" in client.get("/").get_data(as_text=True)
    db.session.expire_all()
    assert org["users"][("PUSAT", "observer")].language == "id"
