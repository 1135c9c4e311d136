"""Every timeline event as one sentence in the reader's language, with names instead of keys.

One presenter per event kind, in a registry keyed by kind (as notice channels are): a kind the code
writes and nobody presents fails tests/test_screens_language.py. A presenter reads the event's data
and a `Names` of the page (stage titles and item texts from the incident's snapshot, units' and
people's names, times in the viewer's zone); this package knows no incident, so whoever shows events
supplies it."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from crisis.i18n import _, lazy_gettext

Data = Mapping[str, Any]


class Names:
    """What a presenter may look up; each callable gets a key and gives the words a person reads.
    The defaults show what they are given, so a page without, say, people's names still works."""

    def __init__(
        self,
        *,
        stage: Callable[[str | None], str] | None = None,
        item: Callable[[str | None], str] | None = None,
        unit: Callable[[str | None], str] | None = None,
        person: Callable[[Any], str] | None = None,
        time: Callable[[datetime | None], str] | None = None,
        duration: Callable[[timedelta], str] | None = None,
        statement_kind: Callable[[str | None], str] | None = None,
        publication_channel: Callable[[str | None], str] | None = None,
        notice_channel: Callable[[str | None], str] | None = None,
        sop: str = "",
        zone: str = "Asia/Jakarta",
    ) -> None:
        self.stage = stage or _plain
        self.item = item or _plain
        self.unit = unit or _plain
        self.person = person or _plain
        self.time = time or (lambda moment: moment.isoformat() if moment else "")
        self.duration = duration or (lambda delta: str(delta))
        self.statement_kind = statement_kind or _plain
        self.publication_channel = publication_channel or _plain
        self.notice_channel = notice_channel or _plain
        self.sop = sop
        self.zone = zone  # the reader's, for sentences that decide between a time and a date

    def at(self, value: Any) -> str:
        """An ISO time stored in an event's data, in the viewer's zone ('' when there is none)."""
        if not value:
            return ""
        try:
            return self.time(datetime.fromisoformat(str(value)))
        except ValueError:
            return ""


def _plain(value: Any) -> str:
    return "" if value is None else str(value)


Presenter = Callable[[Data, Names], str]
PRESENTERS: dict[str, Presenter] = {}


def presents(*kinds: str) -> Callable[[Presenter], Presenter]:
    def register(presenter: Presenter) -> Presenter:
        for kind in kinds:
            PRESENTERS[kind] = presenter
        return presenter

    return register


def present(kind: str, data: Data | None, names: Names) -> str:
    """The sentence for one event. A kind nobody registered (an event written by a newer version)
    reads as a plain notice, never as its key."""
    presenter = PRESENTERS.get(kind)
    if presenter is None:
        return _("Something was recorded that this version cannot describe.")
    sentence = presenter(data or {}, names)
    return sentence[:1].upper() + sentence[1:]  # one that opens with a name in lower case ("e-mail linked")


# --- roles in selectors (who an escalation asks for) --------------------------------------------

SELECTOR_ROLE_LABELS = {
    "officer": lazy_gettext("duty officer"),
    "supervisor": lazy_gettext("supervisor"),
    "head": lazy_gettext("unit head"),
    "on_duty": lazy_gettext("officer on duty"),
    "commander": lazy_gettext("incident commander"),
    "assignee": lazy_gettext("person answering the media query"),
    "admin": lazy_gettext("administrator"),
    "observer": lazy_gettext("observer"),
    "legal": lazy_gettext("legal reviewer"),
    "leader": lazy_gettext("head of the institution"),
}
# Who signs a step of a statement's approval chain (a playbook's settings.approval).
SIGNER_LABELS = {
    "supervisor": lazy_gettext("Supervisor or head"),
    "head": lazy_gettext("Unit head"),
    "legal": lazy_gettext("Legal reviewer"),
    "leader": lazy_gettext("Head of the institution or delegate"),
}
# An incident's emergency status (BNPB practice), in force until changed.
EMERGENCY_LABELS = {
    "none": lazy_gettext("No emergency status"),
    "alert": lazy_gettext("Emergency alert (siaga darurat)"),
    "response": lazy_gettext("Emergency response (tanggap darurat)"),
    "transition": lazy_gettext("Transition to recovery (transisi darurat ke pemulihan)"),
}
SELECTOR_SCOPE_LABELS = {
    "own": lazy_gettext("the owning unit"),
    "parent": lazy_gettext("the parent unit"),
    "province": lazy_gettext("the province"),
    "central": lazy_gettext("the national desk"),
}


def selector_text(selector: str | None, names: Names, *, unit_code: str | None = None) -> str:
    """'unit head of Diskominfo Jawa Tengah' for `head@province` found in JATENG; without the unit
    it was found in, the scope in words ('unit head of the province')."""
    if not selector:
        return ""
    role, _at, scope = selector.partition("@")
    role_label = str(SELECTOR_ROLE_LABELS.get(role, role))
    if role in ("commander", "assignee"):
        return role_label
    if unit_code:
        where = names.unit(unit_code)
    elif scope in SELECTOR_SCOPE_LABELS:
        where = str(SELECTOR_SCOPE_LABELS[scope])
    else:
        where = names.unit(scope or None)
    return _("%(role)s of %(unit)s", role=role_label, unit=where) if where else role_label


def join_words(parts: Iterable[str]) -> str:
    """'A, B and C' in the reader's language."""
    words = [part for part in parts if part]
    if len(words) <= 1:
        return "".join(words)
    return _("%(first)s and %(last)s", first=", ".join(words[:-1]), last=words[-1])


# --- the incident and its stages -----------------------------------------------------------------


@presents("incident.opened")
def _opened(data: Data, names: Names) -> str:
    return _(
        "Incident opened with SOP %(sop)s (version %(version)s) at severity %(severity)s.",
        sop=names.sop,
        version=data.get("playbook_version", ""),
        severity=data.get("severity", ""),
    )


@presents("stage.started")
def _stage_started(data: Data, names: Names) -> str:
    due = names.at(data.get("due_at"))
    if due:
        return _("Stage %(stage)s started; due %(due)s.", stage=names.stage(data.get("stage")), due=due)
    return _("Stage %(stage)s started.", stage=names.stage(data.get("stage")))


@presents("stage.completed")
def _stage_completed(data: Data, names: Names) -> str:
    stage = names.stage(data.get("stage"))
    if data.get("breached"):
        late = names.duration(timedelta(seconds=int(data.get("late_seconds") or 0)))
        return _("Stage %(stage)s completed, %(late)s late.", stage=stage, late=late)
    return _("Stage %(stage)s completed on time.", stage=stage)


@presents("stage.skipped")
def _stage_skipped(data: Data, names: Names) -> str:
    return _(
        "Stage %(stage)s is skipped: the SOP does not run it at severity %(severity)s.",
        stage=names.stage(data.get("stage")),
        severity=data.get("severity", ""),
    )


@presents("stage.restored")
def _stage_restored(data: Data, names: Names) -> str:
    return _(
        "Stage %(stage)s is back in the plan: the SOP runs it at severity %(severity)s.",
        stage=names.stage(data.get("stage")),
        severity=data.get("severity", ""),
    )


@presents("checklist.time_recorded")
def _time_recorded(data: Data, names: Names) -> str:
    item, at = names.item(data.get("item")), names.at(data.get("at"))
    if data.get("before"):
        return _(
            "Time corrected for %(item)s: %(before)s is now %(at)s; the deadlines measured from it moved.",
            item=item,
            before=names.at(data.get("before")),
            at=at,
        )
    return _("Time recorded for %(item)s: %(at)s; the deadlines measured from it follow.", item=item, at=at)


@presents("checklist.done")
def _ticked(data: Data, names: Names) -> str:
    text = _("Ticked: %(item)s.", item=names.item(data.get("item")))
    if data.get("evidence_url"):
        text += " " + _("Evidence attached.")
    return text


@presents("checklist.reopened")
def _reopened(data: Data, names: Names) -> str:
    if data.get("was") == "waived":
        return _("Waiver withdrawn, item open again: %(item)s.", item=names.item(data.get("item")))
    return _("Item open again: %(item)s.", item=names.item(data.get("item")))


@presents("checklist.noted")
def _noted(data: Data, names: Names) -> str:
    item = names.item(data.get("item"))
    if "evidence_url" in data and "note" not in data:
        return _("Evidence link updated on: %(item)s.", item=item)
    if "note" in data and "evidence_url" not in data:
        return _("Note updated on: %(item)s.", item=item)
    return _("Note and evidence updated on: %(item)s.", item=item)


@presents("checklist.waived")
def _waived(data: Data, names: Names) -> str:
    return _(
        "Exception granted for: %(item)s. Reason: %(reason)s",
        item=names.item(data.get("item")),
        reason=data.get("reason", ""),
    )


@presents("checklist.assigned")
def _assigned(data: Data, names: Names) -> str:
    item = names.item(data.get("item"))
    if data.get("assignee_id") is None:
        return _("Nobody is assigned to %(item)s any more.", item=item)
    return _("%(person)s is assigned to: %(item)s.", person=names.person(data.get("assignee_id")), item=item)


@presents("comment.added")
def _comment(data: Data, names: Names) -> str:
    return _("A comment was added.")


@presents("severity.changed")
def _severity(data: Data, names: Names) -> str:
    return _(
        "Severity changed from %(before)s to %(after)s. Reason: %(reason)s",
        before=data.get("before", ""),
        after=data.get("after", ""),
        reason=data.get("reason", ""),
    )


@presents("unit.involved")
def _involved(data: Data, names: Names) -> str:
    return _("%(unit)s is involved in the response.", unit=names.unit(data.get("unit")))


@presents("unit.released")
def _released(data: Data, names: Names) -> str:
    return _("%(unit)s was released from the response.", unit=names.unit(data.get("unit")))


@presents("incident.handed_over")
def _handed_over(data: Data, names: Names) -> str:
    text = _(
        "Ownership handed over from %(from_unit)s to %(to_unit)s.",
        from_unit=names.unit(data.get("from_unit")),
        to_unit=names.unit(data.get("to_unit")),
    )
    if data.get("commander_after") is not None and data.get("commander_after") != data.get("commander_before"):
        text += " " + _("New commander: %(person)s.", person=names.person(data.get("commander_after")))
    return text


@presents("incident.resolved")
def _resolved(data: Data, names: Names) -> str:
    return _("The incident was resolved.")


@presents("incident.cancelled")
def _cancelled(data: Data, names: Names) -> str:
    return _("Incident cancelled as a false alarm. Reason: %(reason)s", reason=data.get("reason", ""))


@presents("incident.closed")
def _closed(data: Data, names: Names) -> str:
    return _("Incident closed after its review was approved.")


# --- statements ----------------------------------------------------------------------------------


@presents("statement.drafted")
def _drafted(data: Data, names: Names) -> str:
    return _("%(kind)s drafted.", kind=names.statement_kind(data.get("statement_kind")) or _("Statement"))


@presents("statement.edited")
def _edited(data: Data, names: Names) -> str:
    kind = names.statement_kind(data.get("statement_kind")) if data.get("statement_kind") else ""
    text = _("%(kind)s edited.", kind=kind) if kind else _("A statement draft was edited.")
    if data.get("signatures_cleared"):
        text += " " + _("The signatures it had are cleared; it is signed again from the first step.")
    return text


@presents("statement.returned")
def _returned(data: Data, names: Names) -> str:
    text = _(
        "%(kind)s sent back to its author. Reason: %(reason)s",
        kind=names.statement_kind(data.get("statement_kind")) or _("Statement"),
        reason=data.get("reason", ""),
    )
    if data.get("signatures_cleared"):
        text += " " + _("The signatures it had are cleared; it is signed again from the first step.")
    return text


@presents("statement.approved")
def _approved(data: Data, names: Names) -> str:
    kind = names.statement_kind(data.get("statement_kind")) or _("Statement")
    if data.get("by_severity"):
        return _(
            "%(kind)s approved: at severity %(severity)s the signatures it has are all it needs.",
            kind=kind,
            severity=data.get("by_severity"),
        )
    return _("%(kind)s approved.", kind=kind)


@presents("statement.signed")
def _signed(data: Data, names: Names) -> str:
    kind = names.statement_kind(data.get("statement_kind")) or _("Statement")
    role = SIGNER_LABELS.get(str(data.get("role")))
    following = SIGNER_LABELS.get(str(data.get("next_role")))
    text = (
        _("%(kind)s signed as %(role)s.", kind=kind, role=str(role).lower())
        if role
        else _("%(kind)s signed.", kind=kind)
    )
    if following:
        text += " " + _("Next to sign: %(role)s.", role=str(following).lower())
    return text


@presents("statement.approval_kept")
def _approval_kept(data: Data, names: Names) -> str:
    roles = [str(SIGNER_LABELS[role]).lower() for role in data.get("roles") or () if role in SIGNER_LABELS]
    kind = names.statement_kind(data.get("statement_kind")) or _("Statement")
    if roles:
        return _(
            "%(kind)s stays approved: it was approved before severity %(severity)s, which also asks for %(roles)s.",
            kind=kind,
            severity=data.get("severity", ""),
            roles=join_words(roles),
        )
    return _("%(kind)s stays approved after the severity change.", kind=kind)


@presents("incident.spokesperson")
def _spokesperson(data: Data, names: Names) -> str:
    if data.get("after") is None:
        return _("Nobody is designated as spokesperson any more.")
    return _("%(person)s designated as spokesperson.", person=names.person(data.get("after")))


@presents("incident.emergency_status")
def _emergency(data: Data, names: Names) -> str:
    after = str(data.get("after") or "")
    when = names.at(data.get("declared_at"))
    if after == "none":
        return _("Emergency status ended at %(when)s.", when=when) if when else _("Emergency status ended.")
    label = EMERGENCY_LABELS.get(after)
    if label is None:
        return _("Emergency status changed.")
    if when:
        return _("Emergency status: %(status)s, declared at %(when)s.", status=label, when=when)
    return _("Emergency status: %(status)s.", status=label)


@presents("statement.published")
def _published(data: Data, names: Names) -> str:
    return _(
        "%(kind)s published on %(channel)s at %(when)s.",
        kind=names.statement_kind(data.get("statement_kind")) or _("Statement"),
        channel=names.publication_channel(data.get("channel")),
        when=names.at(data.get("published_at")),
    )


# --- the media desk ------------------------------------------------------------------------------


def _journalist(data: Data) -> str:
    return _("%(journalist)s (%(outlet)s)", journalist=data.get("journalist", ""), outlet=data.get("outlet", ""))


@presents("media_query.logged")
def _media_logged(data: Data, names: Names) -> str:
    text = _(
        "Media query from %(who)s logged, received at %(received)s; to be answered by %(due)s.",
        who=_journalist(data),
        received=names.at(data.get("received_at")),
        due=names.at(data.get("due_at")),
    )
    if data.get("assignee_id") is not None:
        text += " " + _("Assigned to %(person)s.", person=names.person(data.get("assignee_id")))
    return text


@presents("media_query.assigned")
def _media_assigned(data: Data, names: Names) -> str:
    if data.get("assignee_id") is None:
        return _("Nobody is assigned to the media query from %(who)s any more.", who=_journalist(data))
    return _(
        "%(person)s is assigned to answer the media query from %(who)s.",
        person=names.person(data.get("assignee_id")),
        who=_journalist(data),
    )


@presents("media_query.edited")
def _media_edited(data: Data, names: Names) -> str:
    return _(
        "The media query from %(who)s was corrected; to be answered by %(due)s.",
        who=_journalist(data),
        due=names.at(data.get("due_at")),
    )


@presents("media_query.answer_drafted")
def _media_drafted(data: Data, names: Names) -> str:
    return _("An answer to the media query from %(who)s was written; it waits for approval.", who=_journalist(data))


def _on_time(data: Data) -> str:
    return _("on time") if data.get("on_time") else _("late")


@presents("media_query.answered")
def _media_answered(data: Data, names: Names) -> str:
    if data.get("answer_kind") == "statement":
        return _(
            "The media query from %(who)s was answered with the %(kind)s at %(when)s (%(on_time)s).",
            who=_journalist(data),
            kind=(names.statement_kind(data.get("statement_kind")) or _("Statement")).lower(),
            when=names.at(data.get("answered_at")),
            on_time=_on_time(data),
        )
    return _(
        "The media query from %(who)s was answered with an approved text at %(when)s (%(on_time)s).",
        who=_journalist(data),
        when=names.at(data.get("answered_at")),
        on_time=_on_time(data),
    )


@presents("media_query.declined")
def _media_declined(data: Data, names: Names) -> str:
    return _(
        "The media query from %(who)s was declined with the holding line at %(when)s (%(on_time)s). Reason: %(reason)s",
        who=_journalist(data),
        when=names.at(data.get("answered_at")),
        on_time=_on_time(data),
        reason=data.get("reason", ""),
    )


@presents("key_messages.published_by_unit")
def _shared(data: Data, names: Names) -> str:
    unit = names.unit(data.get("unit_id"))
    channel = names.publication_channel(data.get("channel"))
    when = names.at(data.get("published_at"))
    if unit:
        return _(
            "%(unit)s published the shared key messages on %(channel)s at %(when)s.",
            unit=unit,
            channel=channel,
            when=when,
        )
    return _(
        "An involved unit published the shared key messages on %(channel)s at %(when)s.", channel=channel, when=when
    )


# --- the deadline engine ---------------------------------------------------------------------------


def _recipients(data: Data, names: Names) -> str:
    """'unit head of Diskominfo Jawa Tengah (Budi) by e-mail and in-app inbox; ...' when the event
    says whom it reached how (events written since), else the names alone."""
    reached = data.get("to")
    if isinstance(reached, list) and reached:
        parts = []
        for person in reached:
            role = selector_text(person.get("selector"), names, unit_code=person.get("unit"))
            channels = join_words(names.notice_channel(name) for name in person.get("channels") or [])
            who = _("%(role)s (%(name)s)", role=role, name=person.get("name", "")) if role else person.get("name", "")
            parts.append(_("%(who)s by %(channels)s", who=who, channels=channels) if channels else who)
        return "; ".join(parts)
    return join_words(str(name) for name in data.get("recipients") or [])


def _sent(data: Data, names: Names, what: str) -> str:
    to = _recipients(data, names)
    if to:
        return _("%(what)s: sent to %(to)s.", what=what, to=to)
    return _("%(what)s: nobody could be reached.", what=what)


@presents("escalation.escalation_step")
def _step(data: Data, names: Names) -> str:
    stage = names.stage(data.get("stage"))
    step = int(data.get("step_index") or 0) + 1
    repeat = int(data.get("repeat_index") or 0)
    if repeat:
        what = _("Escalation for stage %(stage)s, step %(step)s, reminder %(n)s", stage=stage, step=step, n=repeat)
    else:
        what = _("Escalation for stage %(stage)s, step %(step)s", stage=stage, step=step)
    return _sent(data, names, what)


@presents("escalation.stage_due")
def _stage_due(data: Data, names: Names) -> str:
    return _sent(data, names, _("Stage %(stage)s is overdue", stage=names.stage(data.get("stage"))))


@presents("escalation.update_due")
def _update_due(data: Data, names: Names) -> str:
    return _sent(data, names, _("A situation update is due"))


@presents("escalation.review_due")
def _review_due(data: Data, names: Names) -> str:
    return _sent(data, names, _("The post-incident review is due"))


@presents("escalation.inject")
def _inject(data: Data, names: Names) -> str:
    return _sent(data, names, _("Exercise inject %(n)s", n=int(data.get("step_index") or 0) + 1))


@presents("exercise.started")
def _exercise_started(data: Data, names: Names) -> str:
    units = join_words(names.unit(code) for code in data.get("units") or [])
    return _(
        "Exercise started from scenario %(scenario)s (version %(version)s) with %(units)s; %(n)s injects planned.",
        scenario=_plain(data.get("scenario")),
        version=_plain(data.get("scenario_version")),
        units=units,
        n=_plain(data.get("injects")),
    )


@presents("exercise.ended")
def _exercise_ended(data: Data, names: Names) -> str:
    return _("Exercise ended (ENDEX).")


@presents("exercise.evaluated")
def _exercise_evaluated(data: Data, names: Names) -> str:
    return _(
        "Exercise objectives rated: %(met)s met, %(partly)s partly met, %(not_met)s not met.",
        met=_plain(data.get("met")),
        partly=_plain(data.get("partly")),
        not_met=_plain(data.get("not_met")),
    )


@presents("exercise.target_set")
def _exercise_target_set(data: Data, names: Names) -> str:
    return _("Exercise target for %(year)s set to %(n)s.", year=_plain(data.get("year")), n=_plain(data.get("target")))


@presents("scenario.published")
def _scenario_published(data: Data, names: Names) -> str:
    return _(
        "Exercise scenario %(key)s published as version %(version)s.",
        key=_plain(data.get("key")),
        version=_plain(data.get("version")),
    )


@presents("escalation.media_query")
def _media_query_due(data: Data, names: Names) -> str:
    repeat = int(data.get("repeat_index") or 0)
    if repeat:
        what = _("A media query is still not answered, reminder %(n)s", n=repeat)
    else:
        what = _("A media query is past its answer target, step %(step)s", step=int(data.get("step_index") or 0) + 1)
    return _sent(data, names, what)


@presents("escalation.fallback")
def _fallback(data: Data, names: Names) -> str:
    role = str(SELECTOR_ROLE_LABELS.get(str(data.get("selector") or "").partition("@")[0], ""))
    asked = names.unit(data.get("from_unit"))
    if data.get("to_unit") is None:
        return _(
            "No %(role)s in %(unit)s or any unit above it; the incident commander was told instead.",
            role=role,
            unit=asked,
        )
    return _(
        "No %(role)s in %(unit)s; sent to the %(role)s of %(to_unit)s, higher up the tree.",
        role=role,
        unit=asked,
        to_unit=names.unit(data.get("to_unit")),
    )


@presents("escalation.acknowledged")
def _acknowledged(data: Data, names: Names) -> str:
    if data.get("via") == "link":
        text = _("Notice acknowledged through the link in the message.")
    elif data.get("via") == "telegram":  # one tap on the button (crisis.escalation.chat_views)
        text = _("Notice acknowledged via Telegram.")
    elif data.get("via") == "whatsapp":
        text = _("Notice acknowledged via WhatsApp.")
    else:
        text = _("Notice acknowledged.")
    stopped = int(data.get("repeats_stopped") or 0)
    if stopped:
        text += " " + _("The reminders of this step stop.")
    return text


@presents("notice.failed")
def _notice_failed(data: Data, names: Names) -> str:
    who = names.person(data.get("recipient_user_id")) if data.get("recipient_user_id") is not None else ""
    channel = names.notice_channel(data.get("channel"))
    if who:
        return _(
            "A notice to %(person)s by %(channel)s could not be delivered after %(n)s attempts; "
            "the unit's administrators were told.",
            person=who,
            channel=channel,
            n=data.get("attempts", ""),
        )
    return _(
        "A notice by %(channel)s could not be delivered after %(n)s attempts; the unit's administrators were told.",
        channel=channel,
        n=data.get("attempts", ""),
    )


# --- chat channels (issue 20: crisis.notify.chat) --------------------------------------------------


@presents("notice.fell_back")
def _notice_fell_back(data: Data, names: Names) -> str:
    return _(
        "The notice to %(person)s could not go by %(channel)s; it was sent by %(next)s instead.",
        person=names.person(data.get("recipient_user_id")),
        channel=names.notice_channel(data.get("from_channel")),
        next=names.notice_channel(data.get("to_channel")),
    )


@presents("chat.linked")
def _chat_linked(data: Data, names: Names) -> str:
    return _(
        "A %(channel)s link was made: escalation notices can go there.",
        channel=names.notice_channel(data.get("channel")),
    )


@presents("chat.link_broken")
def _chat_link_broken(data: Data, names: Names) -> str:
    return _(
        "The %(channel)s link stopped working: %(reason)s",
        channel=names.notice_channel(data.get("channel")),
        reason=data.get("reason", ""),
    )


@presents("chat.group_linked")
def _chat_group_linked(data: Data, names: Names) -> str:
    return _("Telegram group “%(title)s” linked: approved key messages are posted there.", title=data.get("title", ""))


# --- the post-incident review ----------------------------------------------------------------------

REVIEW_FIELD_LABELS = {
    "summary": lazy_gettext("summary"),
    "went_well": lazy_gettext("what went well"),
    "to_improve": lazy_gettext("what to improve"),
    "ratings": lazy_gettext("stage ratings"),
}


@presents("review.opened")
def _review_opened(data: Data, names: Names) -> str:
    due = names.at(data.get("due_at"))
    if due:
        return _("Post-incident review opened; due %(due)s.", due=due)
    return _("Post-incident review opened.")


@presents("review.updated")
def _review_updated(data: Data, names: Names) -> str:
    fields = [str(REVIEW_FIELD_LABELS.get(field, "")) for field in data.get("fields") or []]
    fields = [field for field in fields if field]
    if fields:
        return _("Review edited: %(fields)s.", fields=join_words(fields))
    return _("Review edited.")


@presents("review.submitted")
def _review_submitted(data: Data, names: Names) -> str:
    return _("Review submitted for approval.")


@presents("review.returned")
def _review_returned(data: Data, names: Names) -> str:
    return _("Review returned to draft. Reason: %(reason)s", reason=data.get("reason", ""))


@presents("review.approved")
def _review_approved(data: Data, names: Names) -> str:
    if data.get("on_time") is False:
        return _("Review approved, after its due date.")
    return _("Review approved on time.")


@presents("review.action_added")
def _action_added(data: Data, names: Names) -> str:
    return _(
        "Action item added: %(title)s (owner %(owner)s).",
        title=data.get("title", ""),
        owner=data.get("owner", ""),
    )


@presents("review.action_done")
def _action_done(data: Data, names: Names) -> str:
    return _("Action item done: %(title)s.", title=data.get("title", ""))


@presents("review.action_dropped")
def _action_dropped(data: Data, names: Names) -> str:
    return _("Action item dropped: %(title)s.", title=data.get("title", ""))


@presents("review.action_open")
def _action_open(data: Data, names: Names) -> str:
    return _("Action item open again: %(title)s.", title=data.get("title", ""))
