from __future__ import annotations

from wtforms import DateTimeLocalField, SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional

from crisis.guards import RowIdSelectField
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
