"""Defaults. Every key can be overridden by a CRISIS_<KEY> environment variable."""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    """A top-level folder (templates, static, sops, migrations): inside the package when
    installed from a wheel, beside it in a source checkout."""
    packaged = PACKAGE_DIR / name
    return packaged if packaged.is_dir() else PACKAGE_DIR.parent / name


class Defaults:
    # Database: SQLite file under instance/ unless CRISIS_DATABASE_URL is set.
    DATABASE_URL: str | None = None
    # Celery broker (Redis). Unset means the embedded mode: tasks run in-process.
    BROKER_URL: str | None = None
    SECRET_KEY: str | None = None
    # The Celery queue this deployment's tasks go to (one Redis can serve several deployments).
    TASK_QUEUE = "crisis"
    # Bulk work (report builds, exports, imports): its own queue and its own workers. Empty: TASK_QUEUE
    # followed by "-bulk".
    BULK_QUEUE = ""

    # No pre-ping before every checkout: PostgreSQL connections idle for a second are pinged instead
    # (extensions.ping_when_idle), which spares a busy server one round trip per request.
    SQLALCHEMY_ENGINE_OPTIONS: dict = {}

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
    # Unset: counted in the database (crisis.ratelimit), shared by every process of the deployment.
    RATELIMIT_STORAGE_URI: str | None = None
    RATELIMIT_HEADERS_ENABLED = True
    # No per-process fallback: a count in each process's memory lets workers × the limit through.
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = False

    MAX_CONTENT_LENGTH = 2 * 1024 * 1024
    # How far a time a person enters (a publication, a first sighting) may lie ahead of the server's
    # clock: phones and tools drift a little; more than this is a typo, refused (crisis.moments).
    CLOCK_SKEW_SECONDS = 120
    # The longest address (path and query string, as sent) the app reads; longer is 414. Under
    # gunicorn's longest request line (8190 with the method and version), so the app answers first.
    MAX_URL_LENGTH = 8000

    # Personal data of reporters (Issue.source_person/source_contact) is anonymised in issues logged
    # more than this many years ago (UU 27/2022: deleted when its retention period ends; the period
    # is the unit's archive schedule, README "Security"). 0 or empty: never. Checked once a day.
    RETENTION_YEARS: int | str | None = 5
    RETENTION_BATCH = 500  # issues per transaction

    # Unset in the embedded mode: e-mail is "not set up" (shown so, with how to set it; notices reach
    # the in-app inbox). With a broker and no setting: 127.0.0.1 (crisis._configure).
    SMTP_HOST: str | None = None
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
            "token: `Authorization: Bearer <token>`. Errors are application/problem+json with an `errors` "
            "object naming each field. Text fields take at most the length stated on each; text with NUL "
            "characters or unpaired surrogates is refused (422); links must be http:// or https://; a body over "
            "CRISIS_MAX_CONTENT_LENGTH (2 MB by default) gets 413."
        },
        "security": [{"bearerAuth": []}],
        "components": {"securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}}},
    }

    # --- the deadline engine (escalation) ---
    # Absolute base of links in notices (acknowledgement links in e-mails and webhooks).
    PUBLIC_URL = "http://127.0.0.1:5000"
    # A claimed timer not fired within this many seconds is claimed again (lost message, killed worker).
    TIMER_LEASE_SECONDS = 30
    # A queued notice handed to the queue this long ago and still queued is handed over again.
    NOTICE_LEASE_SECONDS = 30
    # Timers claimed per transaction; the scheduler loops while batches come back full.
    TIMER_CLAIM_BATCH = 500
    # The scheduler never sleeps longer than this between sweeps, even with nothing due.
    ENGINE_MAX_SLEEP_SECONDS = 1.0
    # Delivery: attempts before a notice is marked failed, and the exponential backoff between them.
    NOTICE_MAX_ATTEMPTS = 8
    NOTICE_RETRY_BASE_SECONDS = 5.0
    NOTICE_RETRY_MAX_SECONDS = 300.0
    # How long an acknowledgement link in a notice stays valid.
    ACK_LINK_MAX_AGE_SECONDS = 7 * 24 * 3600
    # How long an invitation to choose a password (people imported in bulk) stays valid.
    INVITE_LINK_MAX_AGE_SECONDS = 14 * 24 * 3600
    # /readyz fails when a due timer, or a notice due for an attempt, waited longer than this.
    ENGINE_LATE_SECONDS = 60
    WEBHOOK_TIMEOUT = 10
    # When set, /metrics answers only requests with "Authorization: Bearer <this token>".
    METRICS_TOKEN: str | None = None
    # Timers that fell due together are fired in batches of at most this many per task, so a burst
    # is shared by the workers and costs a few queries per batch rather than per timer.
    ENGINE_FIRE_CHUNK = 25
    # With more than this many tasks waiting in the broker (every worker busy) the scheduler holds
    # back: due timers wait in the database and leave as a larger batch when a worker is free.
    ENGINE_QUEUE_LIMIT = 2
    # After a pass that claimed timers, the next pass waits at least this long (seconds): when
    # deadlines fall due every few milliseconds they leave in batches of a few, at most this much
    # later, instead of one task and one transaction each (a batch costs about what one deadline
    # does). A lone deadline is still claimed the moment it is due. 0: no lingering.
    ENGINE_LINGER_SECONDS = 0.03
    # A firing task delivers up to this many notices per timer itself right after its commit (one
    # queue hop less); larger fan-outs, retries and lost hand-offs go to escalation.deliver_notices in
    # chunks of ENGINE_DELIVERY_CHUNK. 0: always enqueue.
    ENGINE_INLINE_DELIVERIES = 4
    ENGINE_DELIVERY_CHUNK = 10

    # --- chat channels (crisis.notify.telegram, crisis.notify.whatsapp; README "Chat channels") ---
    # Telegram Bot API: the bot's token from BotFather (unset: no Telegram channel), its @username
    # (for the t.me link that opens the bot), and the secret Telegram sends back in
    # X-Telegram-Bot-Api-Secret-Token on every webhook call (given to setWebhook as secret_token).
    TELEGRAM_BOT_TOKEN: str | None = None
    TELEGRAM_BOT_USERNAME = ""
    TELEGRAM_WEBHOOK_SECRET: str | None = None
    TELEGRAM_API_URL = "https://api.telegram.org"
    # How long the "Hubungkan Telegram" link (a signed /start token) stays valid.
    TELEGRAM_LINK_MAX_AGE_SECONDS = 3600
    # WhatsApp Cloud API: a system user's access token, the sending number's id, the Meta app's
    # secret (X-Hub-Signature-256 of every webhook POST), the verify token of the webhook's GET
    # handshake, and the Graph API base with its pinned version.
    WHATSAPP_TOKEN: str | None = None
    WHATSAPP_PHONE_NUMBER_ID = ""
    WHATSAPP_APP_SECRET: str | None = None
    WHATSAPP_VERIFY_TOKEN: str | None = None
    WHATSAPP_API_URL = "https://graph.facebook.com/v21.0"
    # Approved message templates (names as submitted in WhatsApp Manager; README lists their text).
    WHATSAPP_NOTICE_TEMPLATE = "crisis_notice"
    WHATSAPP_CODE_TEMPLATE = "crisis_link_code"
    # A verification code sent to link a number stays valid this long; this many wrong tries end it.
    WHATSAPP_CODE_MAX_AGE_SECONDS = 900
    WHATSAPP_CODE_MAX_TRIES = 5
    # Seconds to wait for either chat API before the attempt counts as failed (and is retried).
    CHAT_API_TIMEOUT = 10
