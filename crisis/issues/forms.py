"""The short, phone-first forms of the issue pages, and the labels of issue values."""

from __future__ import annotations

from wtforms import (
    DateTimeLocalField,
    HiddenField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from crisis.guards import RowIdField, RowIdSelectField, WholeNumberField
from crisis.i18n import Form
from crisis.i18n import lazy_gettext as _l
from crisis.issues.models import (
    ACTORS,
    CHANNELS,
    EMERGENCY_STATUSES,
    MAX_COUNT,
    NEWS_TIERS,
    SENSITIVITIES,
    SENTIMENTS,
)
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
SENSITIVITY_LABELS = {
    "sara": _l("SARA (ethnicity, religion, race, inter-group)"),
    "politics": _l("politics or elections"),
    "children": _l("children"),
    "deaths": _l("deaths"),
    "security": _l("security"),
}
NEWS_TIER_LABELS = {
    "none": _l("not in the news"),
    "local": _l("local news"),
    "regional": _l("regional news"),
    "national": _l("national news"),
}
ACTOR_LABELS = {
    "influencer": _l("an influencer or large account"),
    "legislator": _l("a DPR/DPRD member"),
    "religious_figure": _l("a religious figure"),
    "institution_head": _l("the head of the institution"),
}
EMERGENCY_LABELS = {
    "none": _l("no emergency status"),
    "alert": _l("siaga darurat (alert)"),
    "response": _l("tanggap darurat (emergency response)"),
    "transition": _l("transisi darurat (transition to recovery)"),
}
STATE_LABELS = {
    "new": _l("New"),
    "monitoring": _l("Monitoring"),
    "escalated": _l("Escalated"),
    "dismissed": _l("Dismissed"),
    "merged": _l("Merged"),
}
assert set(CHANNEL_LABELS) == set(CHANNELS) and set(SENTIMENT_LABELS) == set(SENTIMENTS)  # nosec B101  # import-time self-check
assert set(SENSITIVITY_LABELS) == set(SENSITIVITIES) and set(ACTOR_LABELS) == set(ACTORS)  # nosec B101
assert set(NEWS_TIER_LABELS) == set(NEWS_TIERS) and set(EMERGENCY_LABELS) == set(EMERGENCY_STATUSES)  # nosec B101

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
    news_tier = SelectField(_l("Carried by the news"), validate_choice=False, default="none")
    news_articles = WholeNumberField(_l("News articles counted"), default=0, **_COUNT)
    sensitivities = SelectMultipleField(_l("Sensitive because it touches"), validate_choice=False)
    actors = SelectMultipleField(_l("Posted by or naming"), validate_choice=False)
    whatsapp_groups = WholeNumberField(_l("WhatsApp groups it is in (estimate)"), default=0, **_COUNT)
    whatsapp_forwards = WholeNumberField(_l("WhatsApp forwards (estimate)"), default=0, **_COUNT)
    deaths = WholeNumberField(_l("Deaths"), default=0, **_COUNT)
    displaced = WholeNumberField(_l("Displaced people"), default=0, **_COUNT)
    emergency_status = SelectField(_l("Emergency status"), validate_choice=False, default="none")
    source_person = StringField(_l("Reported by (member of the public)"), validators=[Optional(), Length(max=200)])
    source_contact = StringField(_l("Their contact"), validators=[Optional(), Length(max=200)])

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.channel.choices = _choices(CHANNEL_LABELS)
        self.sentiment.choices = _choices(SENTIMENT_LABELS)
        self.category.choices = _category_choices()
        self.news_tier.choices = _choices(NEWS_TIER_LABELS)
        self.sensitivities.choices = _choices(SENSITIVITY_LABELS)
        self.actors.choices = _choices(ACTOR_LABELS)
        self.emergency_status.choices = _choices(EMERGENCY_LABELS)


class IssueEditForm(IssueForm):
    """Correcting an issue; `version` is the version the editor saw."""

    version = HiddenField(validators=[DataRequired()])
    evidence_urls = None  # evidence is added, never rewritten
    unit_id = None


class NoteForm(Form):
    body = TextAreaField(_l("Monitoring note"), validators=[DataRequired(), Length(max=10000)])
    reach = WholeNumberField(_l("Reach now"), **_COUNT)
    engagement = WholeNumberField(_l("Engagement now"), **_COUNT)
    sentiment = SelectField(_l("Sentiment now"), validate_choice=False, default="")

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.sentiment.choices = [SelectChoice("", str(_l("not judged"))), *_choices(SENTIMENT_LABELS)]


class EvidenceForm(Form):
    url = StringField(_l("Evidence link"), validators=[DataRequired(), Length(max=2000)])
    evidence_note = StringField(_l("What it shows"), validators=[Optional(), Length(max=500)])


class DismissForm(Form):
    reason = TextAreaField(_l("Reason for dismissing"), validators=[DataRequired(), Length(max=2000)])


class MergeForm(Form):
    target_id = RowIdField(_l("Merge into issue number"), validators=[InputRequired()])


class ActionForm(Form):
    """A button that changes state: only the CSRF token."""
