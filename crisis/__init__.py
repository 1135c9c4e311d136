"""crisis: an issue and crisis response desk for government public-relations units."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from flask import Flask

from crisis import config
from crisis.config import PACKAGE_DIR, resource_dir  # noqa: F401  the names callers have used


class ConfigurationError(RuntimeError):
    pass


def _configure(app: Flask, overrides: dict | None) -> None:
    app.config.from_object(config.Defaults)
    app.config.from_prefixed_env("CRISIS")
    app.config.update(overrides or {})
    app.config["EMBEDDED"] = not app.config.get("BROKER_URL")
    if not app.config.get("SMTP_HOST") and not app.config["EMBEDDED"]:
        app.config["SMTP_HOST"] = "127.0.0.1"  # a deployment's local mail relay, as before
    database_url = app.config.get("DATABASE_URL")
    if not database_url:
        Path(app.instance_path).mkdir(parents=True, exist_ok=True)
        database_url = f"sqlite:///{Path(app.instance_path) / 'crisis.sqlite3'}"
    if database_url.startswith("postgresql://"):
        database_url = "postgresql+psycopg://" + database_url.removeprefix("postgresql://")
    app.config["SQLALCHEMY_DATABASE_URI"] = database_url
    if database_url.startswith("sqlite"):
        # SQLite serialises writers; wait for the lock instead of failing at once.
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {"connect_args": {"timeout": 30}}
    if not app.config.get("SECRET_KEY"):
        if app.config["EMBEDDED"] or app.testing:
            app.config["SECRET_KEY"] = _embedded_secret(Path(app.instance_path))
        else:
            raise ConfigurationError(
                "CRISIS_SECRET_KEY is not set. Outside the embedded mode every process must share "
                "one secret: export CRISIS_SECRET_KEY=$(python -c 'import secrets; "
                "print(secrets.token_urlsafe(48))')"
            )
    if app.config.get("SESSION_COOKIE_SECURE") is None:
        app.config["SESSION_COOKIE_SECURE"] = not app.config["EMBEDDED"]
    app.config["REMEMBER_COOKIE_SECURE"] = app.config["SESSION_COOKIE_SECURE"]
    if not app.config.get("RATELIMIT_STORAGE_URI"):
        # The database, not the broker: it is there in every deployment, and shared by every process.
        app.config["RATELIMIT_STORAGE_URI"] = "crisis-db://"  # crisis.ratelimit.STORAGE_URI


def _embedded_secret(instance: Path) -> str:
    """A per-installation secret kept in instance/, so sessions survive a restart."""
    instance.mkdir(parents=True, exist_ok=True)
    path = instance / "secret_key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def create_app(overrides: dict | None = None) -> Flask:
    app = Flask(
        __name__,
        instance_path=os.environ.get("CRISIS_INSTANCE_PATH") or None,
        instance_relative_config=True,
        template_folder=str(resource_dir("templates")),
        static_folder=str(resource_dir("static")),
    )
    _configure(app, overrides)

    from crisis import http, models, ratelimit, web  # noqa: F401  models: every table; ratelimit: crisis-db://
    from crisis.celery import celery_init_app
    from crisis.extensions import babel, csrf, db, limiter, login, migrate, ping_when_idle
    from crisis.wiring import connect_hooks

    db.init_app(app)
    with app.app_context():
        ping_when_idle(db.engine)
    migrate.init_app(app, db, directory=str(resource_dir("migrations")), render_as_batch=True)
    login.init_app(app)
    babel.init_app(app, locale_selector=http.select_locale, timezone_selector=http.select_timezone)
    csrf.init_app(app)
    limiter.init_app(app)
    celery_init_app(app)
    web.init_app(app)
    connect_hooks()
    return app
