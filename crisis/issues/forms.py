"""The short, phone-first forms of the issue pages, and the labels of issue values."""

from __future__ import annotations

from wtforms import (
    BooleanField,
    DateTimeLocalField,
    HiddenField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from crisis.guards import RowIdField, RowIdSelectField, WholeNumberField
from crisis.i18n import Form
from crisis.i18n import lazy_gettext as _l
from crisis.issues.models import CHANNELS, MAX_COUNT, SENTIMENTS
from crisis.playbooks.labels import CATEGORY_LABELS
from crisis.playbooks.spec import CATEGORIES

CHANNEL_LABELS = {
    "x": _l("X / Twitter"),
    "instagram": _l("Instagram"),
    "tiktok": _l("TikTok"),
    "facebook": _l("Facebook"),
    "youtube": _l("YouTube"),
    "whatsapp": _l("WhatsApp"),
    "online_news": _l("Online news"),
    "lapor": _l("SP4N-LAPOR!"),
    "hotline": _l("Hotline"),
    "other": _l("Other"),
}
SENTIMENT_LABELS = {
    "negative": _l("negative"),
    "mixed": _l("mixed"),
    "neutral": _l("neutral"),
    "positive": _l("positive"),
}
STATE_LABELS = {
    "new": _l("New"),
    "monitoring": _l("Monitoring"),
    "escalated": _l("Escalated"),
    "dismissed": _l("Dismissed"),
    "merged": _l("Merged"),
}
assert set(CHANNEL_LABELS) == set(CHANNELS) and set(SENTIMENT_LABELS) == set(SENTIMENTS)  # nosec B101  # import-time self-check

# Type errors only (a whole number, in the range the service states); every other rule about
# values lives in the service, so pages and API agree.
_COUNT = {"validators": [Optional()], "minimum": 0, "maximum": MAX_COUNT}


def _category_choices() -> list[SelectChoice]:
    return [SelectChoice(c, str(CATEGORY_LABELS[c])) for c in CATEGORIES]


def _choices(labels: dict[str, object]) -> list[SelectChoice]:
    return [SelectChoice(value, str(label)) for value, label in labels.items()]


class IssueForm(Form):
    """What a duty officer logs, in the order they know it."""

    unit_id = RowIdSelectField(_l("Unit"))
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=300)])
    description = TextAreaField(_l("What is happening"), validators=[Optional(), Length(max=10000)])
    channel = SelectField(_l("Source channel"), validate_choice=False)
    evidence_urls = TextAreaField(_l("Evidence links"), validators=[Optional(), Length(max=50000)])
    first_seen_at = DateTimeLocalField(_l("First seen"), format="%Y-%m-%dT%H:%M", validators=[DataRequired()])
    reach = WholeNumberField(_l("Reach (people)"), default=0, **_COUNT)
    engagement = WholeNumberField(_l("Engagement (likes, shares, comments)"), default=0, **_COUNT)
    sentiment = SelectField(_l("Sentiment"), validate_choice=False, default="negative")
    category = SelectField(_l("Category"), validate_choice=False)
    mainstream_pickup = BooleanField(_l("Carried by mainstream news media"))
    source_person = StringField(_l("Reported by (member of the public)"), validators=[Optional(), Length(max=200)])
    source_contact = StringField(_l("Their contact"), validators=[Optional(), Length(max=200)])

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.channel.choices = _choices(CHANNEL_LABELS)
        self.sentiment.choices = _choices(SENTIMENT_LABELS)
        self.category.choices = _category_choices()


class IssueEditForm(IssueForm):
    """Correcting an issue; `version` is the version the editor saw."""

    version = HiddenField(validators=[DataRequired()])
    evidence_urls = None  # evidence is added, never rewritten
    unit_id = None


class NoteForm(Form):
    body = TextAreaField(_l("Monitoring note"), validators=[DataRequired(), Length(max=10000)])
    reach = WholeNumberField(_l("Reach now"), **_COUNT)
    engagement = WholeNumberField(_l("Engagement now"), **_COUNT)


class EvidenceForm(Form):
    url = StringField(_l("Evidence link"), validators=[DataRequired(), Length(max=2000)])
    evidence_note = StringField(_l("What it shows"), validators=[Optional(), Length(max=500)])


class DismissForm(Form):
    reason = TextAreaField(_l("Reason for dismissing"), validators=[DataRequired(), Length(max=2000)])


class MergeForm(Form):
    target_id = RowIdField(_l("Merge into issue number"), validators=[InputRequired()])


class ActionForm(Form):
    """A button that changes state: only the CSRF token."""
