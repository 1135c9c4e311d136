"""The English catalog is the source language: make each msgstr equal its msgid so it is complete."""

from pathlib import Path

from babel.messages.pofile import read_po, write_po

path = Path(__file__).resolve().parent.parent / "crisis/translations/en/LC_MESSAGES/messages.po"
with path.open("rb") as handle:
    catalog = read_po(handle, locale="en")
for message in catalog:
    if isinstance(message.id, tuple):  # plural: singular and plural forms
        if not all(message.string):
            message.string = message.id
    elif message.id and not message.string:
        message.string = message.id
with path.open("wb") as handle:
    write_po(handle, catalog, width=100)
