"""Translation helpers: every user-visible string goes through one of these."""

from __future__ import annotations

from typing import Any

from flask_babel import get_translations, gettext, lazy_gettext, ngettext
from flask_wtf import FlaskForm

_ = gettext

__all__ = ["Form", "_", "gettext", "lazy_gettext", "ngettext"]


class CatalogTranslations:
    """WTForms' own messages ("This field is required.", "Not a valid integer value.") read from
    our catalogs, in the viewer's language: WTForms ships no Indonesian, and Flask-WTF's default
    looks only in WTForms' catalogs. The strings are marked for extraction in _wtforms_messages."""

    def gettext(self, string: str) -> str:
        return str(get_translations().ugettext(string))

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return str(get_translations().ungettext(singular, plural, n))


CATALOG = CatalogTranslations()


class Form(FlaskForm):
    """Every page form: Flask-WTF's form whose built-in messages come from our catalogs."""

    class Meta:
        def get_translations(self, form: Any) -> CatalogTranslations:
            return CATALOG


def _wtforms_messages() -> None:  # pragma: no cover - never called: marks WTForms' messages for pybabel
    gettext("This field is required.")
    gettext("Invalid input.")
    gettext("Not a valid choice.")
    gettext("Invalid Choice: could not coerce.")
    gettext("Not a valid datetime value.")
    gettext("Not a valid date value.")
    gettext("Not a valid time value.")
    gettext("Not a valid integer value.")
    gettext("Not a valid decimal value.")
    gettext("Not a valid float value.")
    gettext("Number must be at least %(min)s.")
    gettext("Number must be at most %(max)s.")
    gettext("Number must be between %(min)s and %(max)s.")
    gettext("Invalid email address.")
    gettext("Invalid URL.")
    gettext("Field must be between %(min)d and %(max)d characters long.")
    ngettext("Field must be at least %(min)d character long.", "Field must be at least %(min)d characters long.", 1)
    ngettext("Field cannot be longer than %(max)d character.", "Field cannot be longer than %(max)d characters.", 1)
