"""Acknowledgement links, the inbox, the API, /metrics and /readyz."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from crisis.escalation import inbox as notice_inbox
from crisis.escalation.models import Timer
from crisis.notify import links
from crisis.notify.models import Notice
from tests.conftest import FIXED_NOW, form_post
from tests.engine.drive import tick
from tests.factories import open_incident

NOW = FIXED_NOW
M = timedelta(minutes=1)


def _fired(db, org, smtp, clock):
    """The first step's notices, sent at NOW + 15 min; the clock stays there for the pages that follow."""
    open_incident(db.session, org, now=NOW)
    db.session.commit()
    clock.now = NOW + 15 * M
    tick(db.session, clock.now)
    return db.session.scalar(select(Notice).where(Notice.channel == "email"))


def test_following_the_link_asks_first_and_posting_acknowledges(client, db, org, smtp, clock):
    notice = _fired(db, org, smtp, clock)
    text = smtp.messages[0]["message"].get_body(("plain",)).get_content()
    path = re.search(r"http://127\.0\.0\.1:5000(/ack/\S+)", text).group(1)
    page = client.get(path)  # what a mail scanner does
    assert page.status_code == 200 and f'action="{path}"' in page.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Notice, notice.id).acknowledged_at is None
    done = client.post(path)
    assert done.status_code == 200
    db.session.expire_all()
    acked = db.session.get(Notice, notice.id)
    assert acked.acknowledged_at is not None and acked.acknowledged_by_id == acked.recipient_user_id
    repeat = db.session.scalar(select(Timer).where(Timer.repeat_index == 1))
    assert repeat.state == "cancelled" and repeat.cancel_reason == "acknowledged"
    assert client.post(path).status_code == 200  # twice is fine


def test_a_tampered_or_expired_link_changes_nothing(client, app, db, org, smtp, clock):
    notice = _fired(db, org, smtp, clock)
    path = links.ack_path(notice)
    assert client.get(path[:-3] + "abc").status_code == 404
    assert client.post(path[:-3] + "abc").status_code == 404
    app.config["ACK_LINK_MAX_AGE_SECONDS"] = -1
    try:
        assert client.post(path).status_code == 410
    finally:
        app.config["ACK_LINK_MAX_AGE_SECONDS"] = 7 * 24 * 3600
    db.session.expire_all()
    assert db.session.get(Notice, notice.id).acknowledged_at is None


def test_the_inbox_shows_unread_notices_and_acknowledges(login_as, db, org, smtp, clock):
    _fired(db, org, smtp, clock)
    supervisor = org["users"][("KOTA-SEMARANG", "supervisor")]
    assert notice_inbox.unread_count(db.session, supervisor) == 1
    client = login_as("supervisor", "KOTA-SEMARANG")
    page = client.get("/inbox").get_data(as_text=True)
    assert 'id="unread-count">1<' in page
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    inbox_notice = db.session.scalar(select(Notice).where(Notice.channel == "inapp"))
    response = client.post(f"/inbox/{inbox_notice.id}/ack", data={"csrf_token": token})
    assert response.status_code == 302
    db.session.expire_all()
    assert notice_inbox.unread_count(db.session, supervisor) == 0
    assert db.session.get(Notice, inbox_notice.id).acknowledged_at is not None


def test_the_api_lists_an_incidents_notices_and_acknowledges(client, token_for, db, org, smtp, clock):
    notice = _fired(db, org, smtp, clock)
    headers = token_for("head", "KOTA-SEMARANG")
    listed = client.get(f"/api/v1/incidents/{notice.incident_id}/notices", headers=headers).get_json()
    assert {(n["channel"], n["status"]) for n in listed} == {("email", "sent"), ("inapp", "sent")}
    outsider = token_for("head", "KOTA-MAKASSAR")
    assert client.get(f"/api/v1/incidents/{notice.incident_id}/notices", headers=outsider).status_code == 404
    acked = client.post(f"/api/v1/notices/{notice.id}/ack", headers=headers)
    assert acked.status_code == 200 and acked.get_json()["acknowledged_at"]


def test_an_admin_configures_a_unit_webhook_through_the_api(client, token_for, db, org):
    headers = token_for("admin", "JATENG")
    unit_id = org["units"]["KOTA-SEMARANG"].id
    bad = client.post(f"/api/v1/units/{unit_id}/webhooks", json={"name": "x", "url": "ftp://nope"}, headers=headers)
    assert bad.status_code == 422 and "url" in bad.get_json()["errors"]
    made = client.post(
        f"/api/v1/units/{unit_id}/webhooks", json={"name": "Grup", "url": "http://127.0.0.1:9/h"}, headers=headers
    )
    assert made.status_code == 201 and made.get_json()["secret"]
    listed = client.get(f"/api/v1/units/{unit_id}/webhooks", headers=headers).get_json()
    assert [h["name"] for h in listed] == ["Grup"] and "secret" not in listed[0]
    officer = token_for("officer", "KOTA-SEMARANG")
    assert client.get(f"/api/v1/units/{unit_id}/webhooks", headers=officer).status_code == 403


def test_channel_preferences_keep_at_least_one_channel(client, token_for, db, org):
    headers = token_for("officer", "KOTA-SEMARANG")
    assert client.get("/api/v1/me/channels", headers=headers).get_json() == {"channels": {"email": True, "inapp": True}}
    off = client.put("/api/v1/me/channels", json={"channels": {"email": False}}, headers=headers)
    assert off.get_json() == {"channels": {"email": False, "inapp": True}}
    none = client.put("/api/v1/me/channels", json={"channels": {"inapp": False}}, headers=headers)
    assert none.status_code == 422


def test_metrics_report_backlog_lateness_and_notices(client, db, org, smtp, clock):
    _fired(db, org, smtp, clock)
    body = client.get("/metrics").get_data(as_text=True)
    assert 'crisis_timers_pending{kind="escalation_step"} 2.0' in body
    assert 'crisis_notices{channel="email",status="sent"} 1.0' in body
    assert "crisis_notice_lateness_seconds_bucket" in body and "crisis_timer_oldest_overdue_seconds" in body


def test_readyz_fails_when_the_engine_is_late(client, app, db, org):
    open_incident(db.session, org, now=NOW - timedelta(hours=1))
    db.session.commit()
    checks = client.get("/readyz").get_json()
    assert checks["engine"]["ok"] is False and checks["engine"]["oldest_overdue_timer_seconds"] > 60


def test_metrics_need_the_token_when_one_is_configured(client, app, db):
    app.config["METRICS_TOKEN"] = "scrape-secret"
    try:
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        answer = client.get("/metrics", headers={"Authorization": "Bearer scrape-secret"})
        assert answer.status_code == 200 and "crisis_timers_pending" in answer.get_data(as_text=True)
    finally:
        app.config["METRICS_TOKEN"] = None


def test_an_admin_adds_pauses_and_resumes_a_webhook_on_its_page(login_as, db, org):
    unit = org["units"]["KOTA-SEMARANG"]
    admin = login_as("admin", "JATENG")  # the province's administrator runs the regencies below it
    page = admin.get(f"/admin/units/{unit.id}/webhooks")
    assert page.status_code == 200 and "Belum ada webhook" in page.get_data(as_text=True)

    bad = form_post(admin, f"/admin/units/{unit.id}/webhooks", {"name": "Grup WA", "url": "javascript:alert(1)"})
    assert bad.status_code == 422 and "https://" in bad.get_data(as_text=True)
    assert not escalation_hooks(db, unit.id)

    made = form_post(
        admin,
        f"/admin/units/{unit.id}/webhooks",
        {"name": "Grup WA humas", "url": "https://gateway.example.go.id/hook"},
    )
    body = made.get_data(as_text=True)
    [hook] = escalation_hooks(db, unit.id)
    assert made.status_code == 200 and hook.secret in body  # shown once, right after it was added
    assert hook.secret not in admin.get(f"/admin/units/{unit.id}/webhooks").get_data(as_text=True)

    page = f"/admin/units/{unit.id}/webhooks"
    form_post(admin, f"/admin/webhooks/{hook.id}/active", {"active": "0"}, page=page)
    db.session.expire_all()
    assert escalation_hooks(db, unit.id)[0].active is False
    form_post(admin, f"/admin/webhooks/{hook.id}/active", {"active": "1"}, page=page)
    db.session.expire_all()
    assert escalation_hooks(db, unit.id)[0].active is True


def test_an_officer_may_not_configure_webhooks(login_as, db, org):
    unit = org["units"]["KOTA-SEMARANG"]
    assert login_as("officer", "KOTA-SEMARANG").get(f"/admin/units/{unit.id}/webhooks").status_code == 403


def test_another_provinces_webhooks_are_out_of_sight(login_as, db, org):
    elsewhere = org["units"]["KOTA-MAKASSAR"]  # another province
    assert login_as("admin", "JATENG").get(f"/admin/units/{elsewhere.id}/webhooks").status_code == 404


def escalation_hooks(db, unit_id):
    from crisis.notify.models import WebhookEndpoint

    return list(db.session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.unit_id == unit_id)))
