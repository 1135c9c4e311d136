from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.engine.sinks import SmtpSink, WebhookSink


@pytest.fixture
def smtp(app: Any) -> Iterator[SmtpSink]:
    """A real SMTP server on a free loopback port; the app sends its notices there."""
    sink = SmtpSink().start()
    saved = {k: app.config[k] for k in ("SMTP_HOST", "SMTP_PORT", "NOTICE_RETRY_BASE_SECONDS")}
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=sink.port)
    yield sink
    sink.stop()
    app.config.update(saved)


@pytest.fixture
def webhook() -> Iterator[WebhookSink]:
    sink = WebhookSink().start()
    yield sink
    sink.stop()


def pytest_configure(config: Any) -> None:
    config.addinivalue_line("markers", "engine_config(**settings): CRISIS_* settings for a failure test's processes")
