from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from tests.engine.conftest import smtp  # noqa: F401  the real SMTP server fixture
from tests.notify.fakes import FakeTelegram, FakeWhatsApp

TELEGRAM_SECRET = "tg-webhook-secret_123"  # noqa: S105
WHATSAPP_APP_SECRET = "wa-app-secret"  # noqa: S105
WHATSAPP_VERIFY = "wa-verify-token"  # noqa: S105


@contextmanager
def _configured(app: Any, **settings: Any) -> Iterator[None]:
    saved = {key: app.config.get(key) for key in settings}
    app.config.update(settings)
    try:
        yield
    finally:
        app.config.update(saved)


@pytest.fixture
def telegram_api(app: Any) -> Iterator[FakeTelegram]:
    """A local Bot API the app is configured to use."""
    fake = FakeTelegram().start()
    with _configured(
        app,
        TELEGRAM_BOT_TOKEN=FakeTelegram.TOKEN,
        TELEGRAM_BOT_USERNAME="crisis_test_bot",
        TELEGRAM_WEBHOOK_SECRET=TELEGRAM_SECRET,
        TELEGRAM_API_URL=fake.url,
    ):
        yield fake
    fake.stop()


@pytest.fixture
def whatsapp_api(app: Any) -> Iterator[FakeWhatsApp]:
    fake = FakeWhatsApp().start()
    with _configured(
        app,
        WHATSAPP_TOKEN=FakeWhatsApp.TOKEN,
        WHATSAPP_PHONE_NUMBER_ID=FakeWhatsApp.PHONE_NUMBER_ID,
        WHATSAPP_APP_SECRET=WHATSAPP_APP_SECRET,
        WHATSAPP_VERIFY_TOKEN=WHATSAPP_VERIFY,
        WHATSAPP_API_URL=fake.url + "/",
    ):
        yield fake
    fake.stop()
