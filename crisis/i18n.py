"""Translation helpers: every user-visible string goes through one of these."""

from flask_babel import gettext, lazy_gettext, ngettext

_ = gettext

__all__ = ["_", "gettext", "lazy_gettext", "ngettext"]
