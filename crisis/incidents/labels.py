"""Names of incident states, statement kinds, channels and timeline events in the reader's language
(the events' sentences are crisis.timeline.presenters)."""

from crisis.i18n import lazy_gettext
from crisis.timeline.presenters import EMERGENCY_LABELS, SIGNER_LABELS  # noqa: F401  re-exported

STATEMENT_LABELS = {
    "holding": lazy_gettext("Holding statement"),
    "press_release": lazy_gettext("Press release"),
    "clarification": lazy_gettext("Clarification (hoax)"),
    "key_messages": lazy_gettext("Key messages"),
}
STATE_LABELS = {
    "active": lazy_gettext("Active"),
    "resolved": lazy_gettext("Resolved"),
    "closed": lazy_gettext("Closed"),
    "cancelled": lazy_gettext("Cancelled"),
    "draft": lazy_gettext("Draft"),
    "returned": lazy_gettext("Sent back"),
    "approved": lazy_gettext("Approved"),
    "published": lazy_gettext("Published"),
    "pending": lazy_gettext("Not started"),
    "completed": lazy_gettext("Completed"),
    "skipped": lazy_gettext("Skipped at this severity"),
}
# Where a step of the chain stands (crisis.incidents.statements.chain).
CHAIN_STATE_LABELS = {
    "signed": lazy_gettext("Signed"),
    "waiting": lazy_gettext("Waiting for signature"),
    "to_come": lazy_gettext("To come"),
    "not_needed": lazy_gettext("Not needed"),
}
EVENT_LABELS = {
    "incident.opened": lazy_gettext("Incident opened"),
    "stage.started": lazy_gettext("Stage started"),
    "stage.completed": lazy_gettext("Stage completed"),
    "stage.skipped": lazy_gettext("Stage skipped at this severity"),
    "checklist.time_recorded": lazy_gettext("Time recorded"),
    "stage.restored": lazy_gettext("Stage brought back at this severity"),
    "checklist.done": lazy_gettext("Item ticked"),
    "checklist.reopened": lazy_gettext("Item reopened"),
    "checklist.noted": lazy_gettext("Note or evidence added"),
    "checklist.waived": lazy_gettext("Item waived"),
    "checklist.assigned": lazy_gettext("Item assigned"),
    "comment.added": lazy_gettext("Comment"),
    "severity.changed": lazy_gettext("Severity changed"),
    "unit.involved": lazy_gettext("Unit involved"),
    "unit.released": lazy_gettext("Unit released"),
    "incident.handed_over": lazy_gettext("Ownership handed over"),
    "incident.resolved": lazy_gettext("Incident resolved"),
    "incident.cancelled": lazy_gettext("Incident cancelled"),
    "statement.drafted": lazy_gettext("Statement drafted"),
    "statement.edited": lazy_gettext("Statement edited"),
    "statement.returned": lazy_gettext("Statement sent back"),
    "statement.approved": lazy_gettext("Statement approved"),
    "statement.signed": lazy_gettext("Statement signed"),
    "statement.approval_kept": lazy_gettext("Statement stays approved"),
    "incident.spokesperson": lazy_gettext("Spokesperson designated"),
    "incident.emergency_status": lazy_gettext("Emergency status changed"),
    "statement.published": lazy_gettext("Statement published"),
    "key_messages.published_by_unit": lazy_gettext("Key messages published by a unit"),
    "review.opened": lazy_gettext("Review draft opened"),
    "review.updated": lazy_gettext("Review edited"),
    "review.submitted": lazy_gettext("Review submitted"),
    "review.returned": lazy_gettext("Review returned to draft"),
    "review.approved": lazy_gettext("Review approved"),
    "review.action_added": lazy_gettext("Action item added"),
    "review.action_done": lazy_gettext("Action item done"),
    "review.action_dropped": lazy_gettext("Action item dropped"),
    "review.action_open": lazy_gettext("Action item reopened"),
    "incident.closed": lazy_gettext("Incident closed"),
    "escalation.escalation_step": lazy_gettext("Escalation sent"),
    "escalation.stage_due": lazy_gettext("Stage overdue notice"),
    "escalation.update_due": lazy_gettext("Update reminder"),
    "escalation.review_due": lazy_gettext("Review reminder"),
    "escalation.inject": lazy_gettext("Exercise inject"),
    "exercise.started": lazy_gettext("Exercise started"),
    "exercise.ended": lazy_gettext("Exercise ended"),
    "exercise.evaluated": lazy_gettext("Exercise evaluated"),
    "escalation.media_query": lazy_gettext("Media query past its target"),
    "media_query.logged": lazy_gettext("Media query logged"),
    "media_query.assigned": lazy_gettext("Media query assigned"),
    "media_query.edited": lazy_gettext("Media query corrected"),
    "media_query.answer_drafted": lazy_gettext("Media answer written"),
    "media_query.answered": lazy_gettext("Media query answered"),
    "media_query.declined": lazy_gettext("Media query declined"),
    "escalation.acknowledged": lazy_gettext("Escalation acknowledged"),
    "escalation.fallback": lazy_gettext("Escalation sent up the tree"),
    "notice.failed": lazy_gettext("Notice not delivered"),
}
# How a notice travelled, as a sentence says it ("sent by e-mail"); the settings page uses each
# channel's own label (crisis.notify.channels).
NOTICE_CHANNEL_LABELS = {
    "email": lazy_gettext("e-mail"),
    "inapp": lazy_gettext("the in-app inbox"),
    "webhook": lazy_gettext("webhook"),
    "telegram": "Telegram",
    "whatsapp": "WhatsApp",
}
CHANNEL_LABELS = {
    "x": "X/Twitter",
    "instagram": "Instagram",
    "tiktok": "TikTok",
    "facebook": "Facebook",
    "youtube": "YouTube",
    "whatsapp": "WhatsApp",
    "online_news": lazy_gettext("Online news"),
    "lapor": "SP4N-LAPOR!",
    "hotline": lazy_gettext("Hotline"),
    "other": lazy_gettext("Other"),
    "website": lazy_gettext("Website"),
    "press_conference": lazy_gettext("Press conference"),
    "press_release_mail": lazy_gettext("Press release by e-mail"),
    "tv_radio": lazy_gettext("TV / radio"),
}

# Chat channels (crisis.notify.chat, issue 20): their event on an incident's timeline.
EVENT_LABELS["notice.fell_back"] = lazy_gettext("Notice sent on the next channel")
