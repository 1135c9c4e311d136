from __future__ import annotations

from wtforms import (
    DateField,
    DateTimeLocalField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
)
from wtforms.validators import DataRequired, Length, Optional

from crisis.guards import RowIdSelectField, WholeNumberField
from crisis.i18n import Form
from crisis.i18n import lazy_gettext as _l
from crisis.timefmt import INDONESIAN_ZONES, ZONE_LABELS


class UnitForm(Form):
    code = StringField(_l("Code"), validators=[DataRequired(), Length(max=32)])
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    kind = SelectField(_l("Kind"), validate_choice=False)
    parent_id = RowIdSelectField(_l("Parent unit"), blank=True)
    timezone = SelectField(
        _l("Time zone"),
        choices=[SelectChoice(zone, f"{ZONE_LABELS[zone]} ({zone})") for zone in INDONESIAN_ZONES],
        validate_choice=False,
    )


class ShiftForm(Form):
    user_id = RowIdSelectField(_l("Officer"))
    starts_at = DateTimeLocalField(_l("Starts"), format="%Y-%m-%dT%H:%M", validators=[DataRequired()])
    ends_at = DateTimeLocalField(_l("Ends"), format="%Y-%m-%dT%H:%M", validators=[DataRequired()])
    note = StringField(_l("Note"), validators=[Optional(), Length(max=200)])


class RotationForm(Form):
    """A weekly rotation: the pattern's shifts go to the chosen people in turn, for the coming weeks."""

    pattern = SelectField(_l("Pattern"))
    # Choices are the unit's members' ids as text: only those pass (no number reaches a query unchecked).
    people = SelectMultipleField(_l("People, in turn"), validators=[DataRequired()])
    first_day = DateField(_l("First day"), validators=[DataRequired()])
    weeks = WholeNumberField(_l("Weeks"), default=4, minimum=1, maximum=8, validators=[DataRequired()])
    note = StringField(_l("Note"), validators=[Optional(), Length(max=200)])
