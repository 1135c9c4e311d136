"""Translation helpers: every user-visible string goes through one of these."""

from __future__ import annotations

from typing import Any

from flask_babel import get_translations, gettext, lazy_gettext, ngettext
from flask_wtf import FlaskForm

_ = gettext

__all__ = ["N_", "Form", "Message", "_", "gettext", "lazy_gettext", "localised", "ngettext"]


class CatalogTranslations:
    """WTForms' own messages ("This field is required.", "Not a valid integer value.") read from
    our catalogs, in the viewer's language: WTForms ships no Indonesian, and Flask-WTF's default
    looks only in WTForms' catalogs. The strings are marked for extraction in _wtforms_messages."""

    def gettext(self, string: str) -> str:
        return str(get_translations().ugettext(string))

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return str(get_translations().ungettext(singular, plural, n))


CATALOG = CatalogTranslations()


class Message(str):
    """A message made where no reader is known (the SOP validator, also run from the command line):
    English text as it is (the command line, the API, file:line:column reports), which also keeps
    its catalog template and values so a page can show it in the reader's language (`localised`).
    Values that are Messages themselves are translated too."""

    template: str
    values: dict[str, Any]

    def __new__(cls, template: str, **values: Any) -> Message:
        made = super().__new__(cls, template % values if values else template)
        made.template, made.values = template, values
        return made

    def __reduce__(self) -> Any:  # pickled and copied as what it is
        return (_rebuild, (self.template, self.values))

    def localised(self) -> str:
        values = {name: localised(value) for name, value in self.values.items()}
        translated = gettext(self.template)  # without values flask_babel leaves the text unformatted
        return translated % values if values else translated


def _rebuild(template: str, values: dict[str, Any]) -> Message:
    return Message(template, **values)


N_ = Message  # the name pybabel extracts (one of its default keywords)


def localised(message: Any) -> str:
    """A validator message in the reader's language, or as it is when it is plain text."""
    return message.localised() if isinstance(message, Message) else str(message)


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
