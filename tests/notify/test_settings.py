"""A person's channel settings: the order of channels, quiet hours, unlinking; who no channel reaches,
shown to the unit's admins."""

from __future__ import annotations

from sqlalchemy import select

from crisis.notify import chat
from crisis.notify import service as notify
from crisis.notify.models import ChannelSettings, ChatLink
from tests.conftest import FIXED_NOW, form_post

NOW = FIXED_NOW


def test_quiet_hours_need_a_time_of_day_and_both_ends_named_next_to_the_field(
    app, db, org, client, login_as, telegram_api
):
    login_as("supervisor", "KOTA-SEMARANG")
    bad = form_post(
        client, "/settings/channels", {"order": ["telegram", "email"], "quiet_from": "25:99", "quiet_until": "06:00"}
    )
    assert bad.status_code == 422 and "format JJ:MM" in bad.get_data(as_text=True)
    half = form_post(client, "/settings/channels", {"order": ["telegram"], "quiet_from": "22:00", "quiet_until": ""})
    assert half.status_code == 422 and "jam mulai dan jam selesai" in half.get_data(as_text=True)
    twice = form_post(client, "/settings/channels", {"order": ["email", "email"], "quiet_from": "", "quiet_until": ""})
    assert twice.status_code == 422 and "paling banyak satu kali" in twice.get_data(as_text=True)
    assert db.session.scalar(select(ChannelSettings)) is None  # nothing changed
    good = form_post(
        client,
        "/settings/channels",
        {"order": ["email", "telegram", "whatsapp"], "quiet_from": "22:00", "quiet_until": "06:00"},
    )
    assert good.status_code == 302
    saved = db.session.scalar(select(ChannelSettings))
    assert saved.channel_order == ["email", "telegram", "whatsapp"] and (saved.quiet_from, saved.quiet_until) == (
        "22:00",
        "06:00",
    )


def test_the_order_decides_which_linked_channel_is_used_first(app, db, org, telegram_api, whatsapp_api):
    supervisor = org["users"][("KOTA-SEMARANG", "supervisor")]
    chat.link_telegram(session=db.session, user=supervisor, chat_id="42", now=NOW)
    db.session.add(ChatLink(user_id=supervisor.id, channel="whatsapp", address="+6281234567890", state="active"))
    db.session.flush()
    assert notify.personal_channels(session=db.session, user=supervisor) == ["telegram", "inapp"]
    chat.set_settings(
        session=db.session, user=supervisor, order=["whatsapp", "telegram", "email"], quiet_from="", quiet_until=""
    )
    assert notify.personal_channels(session=db.session, user=supervisor) == ["whatsapp", "inapp"]
    assert chat.working_channels(db.session, supervisor) == ["whatsapp", "telegram", "email"]


def test_without_chat_configured_everyone_keeps_e_mail_and_the_inbox(app, db, org):
    supervisor = org["users"][("KOTA-SEMARANG", "supervisor")]
    db.session.add(ChatLink(user_id=supervisor.id, channel="telegram", address="42", state="active"))
    db.session.flush()
    assert notify.personal_channels(session=db.session, user=supervisor) == ["email", "inapp"]


def test_unlinking_telegram_tells_the_person_in_the_app_and_by_e_mail(
    app, db, org, client, login_as, smtp, telegram_api
):
    supervisor = org["users"][("KOTA-SEMARANG", "supervisor")]
    chat.link_telegram(session=db.session, user=supervisor, chat_id="42", now=NOW)
    db.session.commit()
    login_as("supervisor", "KOTA-SEMARANG")
    response = form_post(client, "/settings/channels/telegram/unlink", {}, page="/settings/channels")
    assert response.status_code == 302
    page = client.get("/settings/channels").get_data(as_text=True)
    assert "Sambungan Telegram diputus" in page and "Hubungkan Telegram" in page
    assert db.session.scalar(select(ChatLink)).state == "broken"
    [mail] = smtp.messages
    assert mail["to"] == [supervisor.email] and "Telegram" in mail["subject"]


def test_admins_see_who_no_channel_reaches_before_an_incident_needs_them(app, db, org, client, login_as, telegram_api):
    officer = org["users"][("KOTA-SEMARANG", "officer")]
    notify.set_preferences(session=db.session, user=officer, choices={"email": False, "inapp": True})
    db.session.commit()
    admin = org["users"][("JATENG", "admin")]  # administers the province's tree
    assert [person.id for person, _unit in chat.unreachable_members(session=db.session, actor=admin)] == [officer.id]
    login_as("admin", "JATENG")
    page = client.get("/settings/channels").get_data(as_text=True)
    unreachable = page.split('id="unreachable"')[1].split("</ul>")[0]
    assert officer.name in unreachable
    assert 'id="no-channel"' not in page  # the admin herself is reached by e-mail


def test_a_person_no_channel_reaches_is_told_on_their_own_page(app, db, org, client, login_as):
    officer = org["users"][("KOTA-SEMARANG", "officer")]
    notify.set_preferences(session=db.session, user=officer, choices={"email": False, "inapp": True})
    db.session.commit()
    login_as("officer", "KOTA-SEMARANG")
    assert 'id="no-channel"' in client.get("/settings/channels").get_data(as_text=True)
