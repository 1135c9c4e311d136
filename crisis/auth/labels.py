"""What each role is called on screen."""

from __future__ import annotations

from crisis.i18n import lazy_gettext

ROLE_LABELS = {
    "officer": lazy_gettext("Duty officer"),
    "supervisor": lazy_gettext("Supervisor"),
    "head": lazy_gettext("Unit head"),
    "admin": lazy_gettext("Administrator"),
    "observer": lazy_gettext("Observer"),
    "legal": lazy_gettext("Legal reviewer"),
    "leader": lazy_gettext("Head of the institution or delegate"),
}
