"""Defaults. Every key can be overridden by a CRISIS_<KEY> environment variable."""

from __future__ import annotations


class Defaults:
    # Database: SQLite file under instance/ unless CRISIS_DATABASE_URL is set.
    DATABASE_URL: str | None = None
    # Celery broker (Redis). Unset means the embedded mode: tasks run in-process.
    BROKER_URL: str | None = None
    SECRET_KEY: str | None = None
    # The Celery queue this deployment's tasks go to (one Redis can serve several deployments).
    TASK_QUEUE = "crisis"

    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}

    BABEL_DEFAULT_LOCALE = "id"
    BABEL_DEFAULT_TIMEZONE = "Asia/Jakarta"
    LANGUAGES = ("id", "en")

    # None: Secure everywhere except the embedded mode, which serves plain http on loopback.
    SESSION_COOKIE_SECURE: bool | None = None
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_NAME = "crisis_session"
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    # A signed-in session ends after this long without a request, and after the absolute limit.
    SESSION_IDLE_MINUTES = 120
    SESSION_ABSOLUTE_HOURS = 12
    WTF_CSRF_TIME_LIMIT = None  # tied to the session instead, which already expires

    # Sign-in attempts per (e-mail, client address); other addresses are not affected.
    LOGIN_RATE_LIMIT = "10 per 5 minutes"
    RATELIMIT_STORAGE_URI: str | None = None
    RATELIMIT_HEADERS_ENABLED = True

    MAX_CONTENT_LENGTH = 2 * 1024 * 1024

    SMTP_HOST = "127.0.0.1"
    SMTP_PORT = 25
    SMTP_USERNAME: str | None = None
    SMTP_PASSWORD: str | None = None
    SMTP_STARTTLS = False
    SMTP_SSL = False
    SMTP_TIMEOUT = 10
    MAIL_SENDER = "crisis <crisis@localhost>"

    # /readyz fails when the scheduler's last tick is older than this.
    SCHEDULER_STALE_SECONDS = 30
    # The embedded mode runs the scheduler inside `crisis run`.
    EMBEDDED_SCHEDULER = True

    API_TITLE = "crisis API"
    API_VERSION = "v1"
    OPENAPI_VERSION = "3.0.3"
    OPENAPI_URL_PREFIX = "/api/v1"
    OPENAPI_JSON_PATH = "openapi.json"
    API_SPEC_OPTIONS = {
        "info": {
            "description": "Issue and crisis response desk. Authenticate with a personal API "
            "token: `Authorization: Bearer <token>`. Errors are application/problem+json."
        },
        "security": [{"bearerAuth": []}],
        "components": {"securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}}},
    }
