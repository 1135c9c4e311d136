"""Telegram down for a while, then up, under a real `crisis scheduler` and a real Celery worker on a
private Redis: every notice reaches the Bot API exactly once."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import select

from crisis.extensions import db as _db
from crisis.notify import chat, telegram
from crisis.notify.models import Notice
from tests.engine.procs import RedisServer, Stack, incident_due_in
from tests.engine.sinks import SmtpSink
from tests.helpers import wait_until
from tests.notify.fakes import TELEGRAM_DOWN, FakeTelegram

pytestmark = [pytest.mark.slow, pytest.mark.real_clock]


def test_telegram_down_then_up_under_real_workers_delivers_every_notice_exactly_once(pg_url, tmp_path, db, org):
    fake = FakeTelegram().start()
    smtp = SmtpSink().start()
    redis = RedisServer(tmp_path).start()
    stack = Stack(
        pg_url,
        tmp_path,
        redis,
        smtp.port,
        TELEGRAM_BOT_TOKEN=FakeTelegram.TOKEN,
        TELEGRAM_API_URL=fake.url,
        TELEGRAM_WEBHOOK_SECRET="engine-telegram-secret",
    )
    try:
        supervisor = org["users"][("KOTA-SEMARANG", "supervisor")]
        chat.link_telegram(session=_db.session, user=supervisor, chat_id="777", now=supervisor.created_at)
        _db.session.commit()
        fake.script = [TELEGRAM_DOWN] * 5  # the first five calls, whichever notices they carry
        stack.start()
        for _ in range(3):
            incident_due_in(org, 1)
        assert wait_until(lambda: len(fake.sent()) >= 3, timeout=90), fake.requests
        stack.past_a_lease()  # nothing more arrives
        _db.session.expire_all()
        notices = _db.session.scalars(select(Notice).where(Notice.channel == "telegram")).all()
        assert len(notices) == 3 and {n.status for n in notices} == {"sent"}
        delivered = Counter(
            telegram.notice_id_of(s["reply_markup"]["inline_keyboard"][0][0]["callback_data"]) for s in fake.sent()
        )
        assert delivered == Counter(n.id for n in notices)  # each once
        assert sum(n.attempts for n in notices) == 3 + 5
        assert smtp.messages == []  # Telegram came back before any notice gave up
    finally:
        stack.stop()
        smtp.stop()
        fake.stop()
        _db.session.rollback()
