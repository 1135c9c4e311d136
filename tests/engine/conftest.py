from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from crisis.extensions import db as _db
from tests.engine.procs import RedisServer, Stack
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


@pytest.fixture
def stack(pg_url: str, tmp_path: Any, db: Any, request: Any) -> Iterator[Stack]:
    """Real processes (scheduler, workers) on a private Redis and a real SMTP server, stopped at the end;
    an `engine_config(**settings)` marker sets their CRISIS_* settings."""
    smtp = SmtpSink().start()
    redis = RedisServer(tmp_path).start()
    marker = request.node.get_closest_marker("engine_config")
    running = Stack(pg_url, tmp_path, redis, smtp.port, **(marker.kwargs if marker else {}))
    running.smtp = smtp  # type: ignore[attr-defined]
    yield running
    running.stop()
    smtp.stop()
    _db.session.rollback()


def pytest_configure(config: Any) -> None:
    config.addinivalue_line("markers", "engine_config(**settings): CRISIS_* settings for a failure test's processes")
