from __future__ import annotations

from wtforms import BooleanField, PasswordField, SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, Length

from crisis.guards import RowIdSelectField
from crisis.i18n import Form
from crisis.i18n import lazy_gettext as _l


class LoginForm(Form):
    email = StringField(_l("E-mail"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=256)])


class PasswordForm(Form):
    current_password = PasswordField(_l("Current password"), validators=[DataRequired(), Length(max=256)])
    new_password = PasswordField(_l("New password"), validators=[DataRequired(), Length(max=256)])


class InvitationForm(Form):
    password = PasswordField(_l("New password"), validators=[DataRequired(), Length(max=256)])
    confirm = PasswordField(_l("The same password again"), validators=[DataRequired(), Length(max=256)])


LANGUAGE_CHOICES = [SelectChoice("id", "Bahasa Indonesia"), SelectChoice("en", "English")]


class LanguageForm(Form):
    language = SelectField(_l("Language"), choices=LANGUAGE_CHOICES)


class TokenForm(Form):
    name = StringField(_l("Token name"), validators=[DataRequired(), Length(max=100)])


class UserForm(Form):
    email = StringField(_l("E-mail"), validators=[DataRequired(), Length(max=254)])
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    password = PasswordField(_l("Initial password"), validators=[Length(max=256)])
    language = SelectField(_l("Language"), choices=LANGUAGE_CHOICES)
    unit_id = RowIdSelectField(_l("Unit"))
    role = SelectField(_l("Role"), validate_choice=False)
    active = BooleanField(_l("Active"), default=True)


class MembershipForm(Form):
    unit_id = RowIdSelectField(_l("Unit"))
    role = SelectField(_l("Role"), validate_choice=False)
