"""What a notice says: subject, plain text and HTML, in the recipient's language and time zone."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from flask_babel import force_locale, get_locale, get_translations
from jinja2 import pass_context
from markupsafe import Markup

from crisis.i18n import _
from crisis.incidents.labels import STATEMENT_LABELS
from crisis.incidents.models import EXERCISE_MARK
from crisis.notify.links import ack_url, incident_url, thing_url
from crisis.notify.models import Notice
from crisis.playbooks.snapshot import parse_stage, snapshot_of
from crisis.playbooks.spec import PlaybookSpec, describe_selector, format_duration_words, parse_selector
from crisis.timefmt import LocalTimes

SUBJECT_TITLE_LIMIT = 40  # characters of the incident's title in a subject, before "…"


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str
    language: str
    zone: str
    context: dict[str, Any]


def audience(notice: Notice) -> tuple[str, str]:
    """(language, time zone) of whoever reads the notice."""
    languages = current_app.config["LANGUAGES"]
    if notice.recipient is not None:
        language = notice.recipient.language if notice.recipient.language in languages else languages[0]
        return language, notice.recipient.timezone
    unit = notice.webhook.unit if notice.webhook is not None else notice.incident.unit
    return languages[0], unit.timezone


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def render(notice: Notice) -> Rendered:
    language, zone = audience(notice)
    with force_locale(language):
        translations = get_translations()
        context = _context(notice, language, zone, LocalTimes(zone, get_locale()))
        subject = _subject(context, _catalog_gettext(translations))
        context["subject"] = subject
        # The templates' _() and ngettext() from the catalog in hand: looking the catalog up again for
        # each string, as the app's own callables do, cost a notice more than the rest of its rendering.
        # An e-mail depends on nothing of a request, so no context processors either.
        gettext = _template_gettext(translations)
        context.update(_=gettext, gettext=gettext, ngettext=_template_ngettext(translations))
        text = _render_template("emails/notice.txt", context)
        html = _render_template("emails/notice.html", context)
    return Rendered(subject=subject, text=text, html=html, language=language, zone=zone, context=context)


def _render_template(name: str, context: dict[str, Any]) -> str:
    """A template rendered from `context` alone. Jinja's `render` first copies the app's globals into
    every context (28 of them, read one by one through a ChainMap), for templates that use none but
    `_`, which `render` puts in the context itself; with the alias that `_` otherwise is, a tenth of
    a notice's rendering."""
    environment = current_app.jinja_env
    template = environment.get_template(name)
    try:
        return environment.concat(template.root_render_func(template.new_context(context, shared=True)))
    except Exception:  # noqa: BLE001  re-raised, with the template's lines in its traceback, as render does
        environment.handle_exception()
        raise


def _catalog_gettext(translations: Any) -> Callable[..., str]:
    """crisis.i18n's `_` from the catalog in hand, without Flask-Babel finding it again for each string."""

    def gettext(string: str, **variables: Any) -> str:
        text: str = translations.ugettext(string)
        return text % variables if variables else text

    return gettext


def _template_gettext(translations: Any) -> Any:
    """gettext as Jinja's i18n extension installs it (newstyle): escaped where autoescaping, then formatted."""

    @pass_context
    def gettext(context: Any, string: str, **variables: Any) -> str:
        text = translations.ugettext(string)
        if context.eval_ctx.autoescape:
            text = Markup(text)  # noqa: S704  # nosec B704  # our own catalog; the % below escapes the values
        return text % variables

    return gettext


def _template_ngettext(translations: Any) -> Any:
    @pass_context
    def ngettext(context: Any, singular: str, plural: str, num: int, **variables: Any) -> str:
        variables.setdefault("num", num)
        text = translations.ungettext(singular, plural, num)
        if context.eval_ctx.autoescape:
            text = Markup(text)  # noqa: S704  # nosec B704  # our own catalog; the % below escapes the values
        return text % variables

    return ngettext


def _context(notice: Notice, language: str, zone: str, local: LocalTimes) -> dict[str, Any]:
    payload = notice.payload or {}
    incident = notice.incident
    stage_title = None
    step_text = None
    if payload.get("stage_position") is not None:
        spec = parse_stage(snapshot_of(incident)["stages"][payload["stage_position"]])
        stage_title = spec.title.get(language)
        step_index = payload.get("step_index")
        if step_index is not None and step_index < len(spec.escalation):
            step = spec.escalation[step_index]
            try:  # the wait at the incident's severity (a step's 'after' may differ per severity)
                step_text = format_duration_words(step.after_for(incident.severity), language)
            except ValueError:  # no value at the severity it has now: it fired at another one
                step_text = None
    selector_text = None
    if payload.get("selector") and payload["selector"] != "commander":
        try:
            selector_text = describe_selector(parse_selector(payload["selector"]), language)
        except ValueError:
            selector_text = payload["selector"]
    fire_at = _when(payload.get("fire_at")) or notice.due_at
    fire_at_local = local(fire_at)
    stage_due_at = _when(payload.get("stage_due_at"))
    every = None
    if payload.get("kind") == "update_due":
        every_td: timedelta = PlaybookSpec.from_canonical(snapshot_of(incident)).settings.update_every_for(
            incident.severity
        )
        every = format_duration_words(every_td, language)
    exercise = bool(payload.get("exercise")) or incident.exercise_id is not None
    inject_text = payload.get("inject_text") or {}
    return {
        "exercise": exercise,
        "exercise_mark": EXERCISE_MARK,
        "inject_text": inject_text.get(language) or inject_text.get("id"),
        "notice": notice,
        "payload": payload,
        "kind": payload.get("kind", notice.kind),
        "incident": incident,
        "reference": payload.get("incident_ref") or incident.reference,
        "severity": payload.get("severity", incident.severity),
        "unit_code": payload.get("owner_unit") or incident.unit.code,
        "unit_name": incident.unit.name,
        "stage_title": stage_title,
        "step_after": step_text,
        "selector_text": selector_text,
        "fallback_from": payload.get("fallback_from"),
        "resolved_unit": payload.get("unit_code"),
        "repeat_index": payload.get("repeat_index") or 0,
        "repeat_max": payload.get("repeat_max") or 0,
        "fire_at_local": fire_at_local,
        "stage_due_local": local(stage_due_at) if stage_due_at else None,
        "last_update_local": local(incident.last_update_at) if incident.last_update_at else None,
        "update_every": every,
        "recipient": notice.recipient,
        "ack_url": ack_url(notice),
        "incident_url": incident_url(incident.id),
        "failed_error": payload.get("error"),
        # Reminders (notice kind "reminder", crisis.reviews.reminders): the item's due time and title.
        "due_local": fire_at_local if notice.due_at == fire_at else local(notice.due_at),
        "item_title": payload.get("title"),
        # What waits for the reader (notice kind "info", crisis.desk.notices): who, what, and its link.
        "thing_url": thing_url(notice),
        "actor_name": payload.get("actor_name"),
        "statement_title": payload.get("statement_title"),
        "statement_kind_label": str(STATEMENT_LABELS.get(payload.get("statement_kind"), "")).lower(),
        "involved_unit": payload.get("involved_unit"),
        "involved_unit_name": payload.get("involved_unit_name"),
        "review_due_local": local(_when(payload.get("review_due_at"))) if payload.get("review_due_at") else None,
        # A media query past its answer target (crisis.escalation.media).
        "media_due_local": local(_when(payload.get("media_due_at"))) if payload.get("media_due_at") else None,
    }


def _journalist(context: dict[str, Any]) -> dict[str, str]:
    payload = context["payload"]
    return {"journalist": payload.get("journalist", ""), "outlet": payload.get("outlet", "")}


def short_title(title: str, limit: int = SUBJECT_TITLE_LIMIT) -> str:
    """The title on one line, cut at the last word boundary within `limit` characters, with "…"."""
    words = " ".join(title.split())
    if len(words) <= limit:
        return words
    space = words.rfind(" ", 0, limit + 1)
    cut = words[:space] if space >= limit // 2 else words[:limit]  # one long word: cut inside it
    return cut.rstrip(" ,.;:-–—") + "…"


def _subject(context: dict[str, Any], _: Callable[..., str] = _) -> str:
    # Which incident, in every subject: a head told about five incidents tells them apart in the inbox.
    title = context["incident"].title
    if context["exercise"]:  # the mark first, once: a drill's notice is never read as a real one
        title = title.removeprefix(EXERCISE_MARK).lstrip()
    head = f"[SEV {context['severity']}] {context['unit_code']} · {context['reference']} {short_title(title)}"
    if context["exercise"]:
        head = f"{EXERCISE_MARK} {head}"
    about = _subject_about(context, _)
    return f"{head} · {about}" if about else head


def _subject_about(context: dict[str, Any], _: Callable[..., str] = _) -> str | None:
    kind = context["kind"]
    if kind == "inject":
        return _("Exercise inject: %(text)s", text=short_title(context["inject_text"] or "", 60))
    if kind == "update_due":
        return _("Situation update due")
    if kind == "media_query":
        return _("Media query not answered: %(journalist)s (%(outlet)s)", **_journalist(context))
    if kind == "review_due":
        return _("Post-incident review due")
    if kind == "review_due_soon":
        return _("Post-incident review due by %(when)s", when=context["due_local"])
    if kind == "action_item_due_soon":
        return _("Action item due by %(when)s: %(title)s", when=context["due_local"], title=context["item_title"])
    if kind == "action_item_overdue":
        return _("Action item overdue: %(title)s", title=context["item_title"])
    if kind == "statement_submitted":
        return _("Statement waiting for your approval: %(title)s", title=short_title(context["statement_title"] or ""))
    if kind == "review_submitted":
        return _("Post-incident review waiting for your approval")
    if kind == "unit_involved":
        return _("%(unit)s is involved in this incident", unit=context["involved_unit"])
    if kind == "delivery_failed":
        return _("A notice could not be delivered")
    if kind == "link_broken":
        return _("Your %(channel)s link no longer works", channel=_channel_label(context["payload"].get("channel")))
    stage = context["stage_title"]
    if kind == "stage_due":
        overdue = _("overdue")
        return f"{stage} — {overdue}" if stage else overdue
    return stage


def _channel_label(name: str | None) -> str:
    from crisis.notify.channels import CHANNELS  # channels import this module

    channel = CHANNELS.get(name or "")
    return str(channel.label) if channel is not None else str(name)
