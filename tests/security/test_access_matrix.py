"""Every route × every role × a record in the actor's own unit, a unit below it, a sibling unit and
the central unit: allowed or refused, as the table below says.

The actors are the five roles of a province (Jawa Tengah) and the five roles of the central desk,
and an anonymous visitor. A province reaches its own unit and the regencies below it; a sibling
province and the central unit above it are out of its sight. The central desk reaches every unit.

Refusals are exact: a record out of sight is 404 (its existence is not confirmed), a record in
sight that the role may not change is 403, and a visitor who is not signed in goes to the sign-in
page (pages) or gets 401 (API). "Allowed" means the request passed the gate: any answer but those
(a 409 or 422 about the record's state still means the role was let through).

The table maps each route (URL rule and method) to its rule; a route the app serves that is not in
the table fails `test_every_route_is_in_the_table`, so a new route cannot skip this review.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

from crisis.auth import invitations
from crisis.auth import roster as duty
from crisis.auth import service as people
from crisis.auth.models import Membership, User
from crisis.auth.people_import import NO_PASSWORD
from crisis.escalation.models import Timer
from crisis.exercises import service as exercises
from crisis.incidents import media, statements
from crisis.incidents import service as incidents
from crisis.notify import links
from crisis.notify import service as notify
from crisis.notify.models import Notice
from crisis.reports import monthly
from crisis.reports import service as reports
from crisis.reviews import service as reviews
from tests import factories
from tests.conftest import FIXED_NOW, csrf_token, sign_in

NOW = FIXED_NOW
M = timedelta(minutes=1)
ROLES = ("officer", "supervisor", "head", "admin", "observer")
ACTING = frozenset({"officer", "supervisor", "head", "admin"})
# Where the records are, seen from a province actor (Jawa Tengah)...
PROVINCE_TARGETS = {"own": "JATENG", "descendant": "KOTA-SEMARANG", "sibling": "SULSEL", "central": "PUSAT"}
# ...and from a central actor: a unit far below it, in another province.
CENTRAL_TARGETS = {"below": "SULSEL"}
# Each incident involves one more unit, never the actor's (that would bring it into sight).
INVOLVED = {"JATENG": "KAB-BANYUMAS", "KOTA-SEMARANG": "KAB-BANYUMAS", "SULSEL": "KOTA-MAKASSAR", "PUSAT": "PAPUA"}
SECOND_INVOLVED = "KAB-JAYAPURA"
ADMIN_OVER = {"JATENG": "JATENG", "KOTA-SEMARANG": "JATENG", "SULSEL": "PUSAT", "PUSAT": "PUSAT"}

OK, LOGIN, FORBIDDEN, NOT_FOUND = "allowed", "sign-in", "403", "404"
MEDIA_QUESTION = {
    "journalist": "Rina",
    "outlet": "Kompas TV",
    "outlet_type": "national_tv",
    "channel": "phone",
    "question": "Benarkah?",
}


@dataclass(frozen=True)
class Actor:
    role: str | None  # None: not signed in
    unit: str = "JATENG"

    @property
    def central(self) -> bool:
        return self.unit == "PUSAT"

    def __str__(self) -> str:
        return f"{self.role}@{self.unit}" if self.role else "anonymous"


ANONYMOUS = Actor(None)
ACTORS = [Actor(role, unit) for unit in ("JATENG", "PUSAT") for role in ROLES] + [ANONYMOUS]


# --- the rules ------------------------------------------------------------------------------------

Rule = Callable[[Actor, str | None], str]


def _visible(actor: Actor, relation: str | None) -> bool:
    return actor.central or relation in (None, "own", "descendant")


def public(actor: Actor, relation: str | None) -> str:
    return OK


def signed_in(actor: Actor, relation: str | None) -> str:
    return OK


def see(actor: Actor, relation: str | None) -> str:
    return OK if _visible(actor, relation) else NOT_FOUND


def gate(roles: frozenset[str] | set[str]) -> Rule:
    """In sight: the roles may, others get 403. Out of sight: 404."""

    def rule(actor: Actor, relation: str | None) -> str:
        if not _visible(actor, relation):
            return NOT_FOUND
        return OK if actor.role in roles else FORBIDDEN

    rule.__name__ = "gate(" + ",".join(sorted(roles)) + ")"
    return rule


act = gate(ACTING)  # observers read and never change
lead = gate({"supervisor", "head", "admin"})  # incidents: the big decisions (the commander too)
approve_statement = gate({"supervisor", "head"})
designate_spokesperson = gate({"supervisor", "head"})  # and the commander
head_only = gate({"head"})  # reviews are approved or returned by a head over the owning unit
set_targets = gate({"head", "admin"})
plan_roster = gate({"supervisor", "head", "admin"})
administer = gate({"admin"})


def admin_page(actor: Actor, relation: str | None) -> str:
    """Admin pages refuse non-admins before looking anything up."""
    return see(actor, relation) if actor.role == "admin" else FORBIDDEN


def admin_anywhere(actor: Actor, relation: str | None) -> str:
    return OK if actor.role == "admin" else FORBIDDEN


def admin_of_parent(actor: Actor, relation: str | None) -> str:
    """Creating under a unit: 403 whether or not it exists, so nothing is confirmed."""
    return OK if actor.role == "admin" and _visible(actor, relation) else FORBIDDEN


def central_admin(actor: Actor, relation: str | None) -> str:
    return OK if actor.role == "admin" and actor.central else FORBIDDEN


def acting_anywhere(actor: Actor, relation: str | None) -> str:
    return OK if actor.role in ACTING else FORBIDDEN


def log_issue(actor: Actor, relation: str | None) -> str:
    """The log form refuses a person who acts nowhere before reading the unit chosen."""
    return see(actor, relation) if actor.role in ACTING else FORBIDDEN


def service_signed(actor: Actor, relation: str | None) -> str:
    """A chat service's webhook: only a request with its secret or signature gets in; a person never."""
    return FORBIDDEN


def province_room(actor: Actor, relation: str | None) -> str:
    """A province's situation room: a province in sight; anything else (a regency, the centre) is not found."""
    return OK if relation in ("own", "below") else NOT_FOUND


def unit_head(actor: Actor, relation: str | None) -> str:
    """A unit's own head (its yearly exercise target): not a head above it; out of sight, not found."""
    if not _visible(actor, relation):
        return NOT_FOUND
    return OK if actor.role == "head" and relation == "own" else FORBIDDEN


def owner(actor: Actor, relation: str | None) -> str:
    """A personal record (an API token): its owner only; anyone else's is not found."""
    return OK if relation == "self" else NOT_FOUND


# --- the table ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    method: str
    rule: str  # the URL rule exactly as the app registers it
    access: Rule
    path: str = ""  # formatted with the ids of the target's records; default: the rule itself
    body: Any = None  # a form (pages) or JSON (API): a dict, or a callable of the ids
    target: bool = False  # checked against the records of each target unit
    own: bool = False  # also against the actor's own record (tokens)
    fresh: str | None = None  # allowed checks get a fresh record from this factory (the action uses it up)
    also_ok: tuple[int, ...] = ()

    @property
    def api(self) -> bool:
        return self.rule.startswith("/api/")

    def __str__(self) -> str:
        return f"{self.method} {self.path or self.rule}"


def C(method: str, rule: str, access: Rule, path: str = "", body: Any = None, **options: Any) -> Check:  # noqa: N802
    target = "{" in (path or rule) and "{self" not in (path or rule)
    return Check(method, rule, access, path, body, target=options.pop("target", target), **options)


ISSUE = {
    "title": "Hoaks bansos beredar di grup warga",
    "channel": "x",
    "category": "hoax",
    "evidence_urls": ["https://example.com/matrix/1"],
}
LATER = (NOW + timedelta(days=2)).date().isoformat()

PAGES = [
    C("GET", "/", signed_in),
    C("GET", "/", see, "/?unit={unit}"),
    C("GET", "/login", public),
    # A wrong password answers 401 with the form again: the page works for anyone. (Signed-in people
    # are sent on to the console.) A new address each time stays under the per-address rate limit.
    C(
        "POST",
        "/login",
        public,
        body=lambda ids: {"email": f"tamu{ids['n']}@contoh.example", "password": "salah-salah-salah"},
        also_ok=(401,),
    ),
    C("POST", "/language", public, body={"language": "id", "next": "/"}),
    C("GET", "/account/password", signed_in),
    C("POST", "/account/password", signed_in, body={"current_password": "bukan-ini", "new_password": "x"}),
    C("GET", "/account/tokens", signed_in),
    C("POST", "/account/tokens", signed_in, body={"name": "matriks"}),
    C("POST", "/account/tokens/<int:token_id>/revoke", owner, "/account/tokens/{token}/revoke", target=True, own=True),
    C("GET", "/ack/<token>", public, "/ack/{ack}"),
    C("POST", "/ack/<token>", public, "/ack/{ack}"),
    C("GET", "/invite/<value>", public, "/invite/{invite}"),
    # A password too short: the form again, for anyone holding the link (the link stays unused).
    C("POST", "/invite/<value>", public, "/invite/{invite}", body={"password": "abc", "confirm": "abc"}),
    C("GET", "/healthz", public),
    C("GET", "/readyz", public, also_ok=(503,)),  # 503 until a scheduler ticks: still an answer to anyone
    C("GET", "/metrics", public),
    C("GET", "/static/<path:filename>", public, "/static/css/app.css"),
    # units and people
    C("GET", "/admin/units", signed_in),
    C("GET", "/admin/units/new", admin_anywhere),
    C("POST", "/admin/units/new", admin_anywhere, body=lambda ids: ids["new_unit_form"]),
    C("GET", "/admin/units/<int:unit_id>/edit", admin_page, "/admin/units/{unit}/edit"),
    C(
        "POST",
        "/admin/units/<int:unit_id>/edit",
        admin_page,
        "/admin/units/{unit}/edit",
        body=lambda ids: ids["unit_form"],
    ),
    C(
        "POST",
        "/admin/units/<int:unit_id>/letterhead",
        admin_page,
        "/admin/units/{unit}/letterhead",
        body={"institution": "Dinas Matriks", "address": "Jl. Matriks 1"},
    ),
    C("GET", "/units/<int:unit_id>/logo", see, "/units/{unit}/logo"),
    C("GET", "/admin/users", admin_anywhere),
    C("GET", "/admin/users/new", admin_anywhere),
    C("POST", "/admin/users/new", admin_anywhere, body=lambda ids: ids["new_user_form"]),
    C("GET", "/situation", signed_in),  # every actor here is of a central or province unit
    C("GET", "/situation/<int:province_id>", province_room, "/situation/{unit}"),
    C("GET", "/situation/area/<int:unit_id>/<what>", see, "/situation/area/{unit}/open"),
    C("GET", "/admin/users/import", admin_anywhere),
    C("GET", "/admin/users/invitations", admin_anywhere),
    C("POST", "/admin/users/invitations", admin_anywhere, body={}),
    C(
        "POST",
        "/admin/users/import",
        admin_anywhere,
        body=lambda ids: {"csv": "name,email,unit_code,role,phone,language\n", "action": "check"},
    ),
    C("GET", "/admin/users/<int:user_id>/edit", admin_page, "/admin/users/{user}/edit"),
    C(
        "POST",
        "/admin/users/<int:user_id>/edit",
        admin_page,
        "/admin/users/{user}/edit",
        body=lambda ids: ids["user_form"],
    ),
    C(
        "POST",
        "/admin/users/<int:user_id>/memberships",
        admin_page,
        "/admin/users/{user}/memberships",
        body=lambda ids: {"unit_id": ids["unit"], "role": "officer"},
    ),
    C(
        "POST",
        "/admin/memberships/<int:membership_id>",
        admin_page,
        "/admin/memberships/{membership}",
        body={"role": "officer"},
    ),
    C("GET", "/admin/audit", admin_anywhere),
    C("GET", "/units/<int:unit_id>/roster", see, "/units/{unit}/roster"),
    C(
        "POST",
        "/units/<int:unit_id>/roster",
        plan_roster,
        "/units/{unit}/roster",
        body=lambda ids: {"user_id": ids["user"], "starts_at": "2026-11-28T07:00", "ends_at": "2026-11-28T19:00"},
    ),
    C(
        "POST",
        "/units/<int:unit_id>/roster/rotation",
        plan_roster,
        "/units/{unit}/roster/rotation",
        body=lambda ids: {"pattern": "office-hours", "people": [ids["user"]], "first_day": "2027-01-04", "weeks": "1"},
    ),
    C(
        "POST",
        "/units/<int:unit_id>/roster/<int:shift_id>/delete",
        plan_roster,
        "/units/{unit}/roster/{shift}/delete",
        fresh="shift",
    ),
    # issues
    C("GET", "/issues", signed_in),
    C("GET", "/issues/new", acting_anywhere),
    C(
        "POST",
        "/issues/new",
        log_issue,
        body=lambda ids: {
            "unit_id": ids["unit"],
            "title": "Hoaks bansos beredar di grup warga",
            "channel": "x",
            "category": "hoax",
            "first_seen_at": "2026-11-26T09:30",
            "evidence_urls": "https://example.com/matrix/page",
            "sentiment": "negative",
        },
        target=True,
    ),
    C("GET", "/issues/<int:issue_id>", see, "/issues/{issue}"),
    C("GET", "/issues/<int:issue_id>/duplicates", see, "/issues/{issue}/duplicates"),
    C("GET", "/issues/<int:issue_id>/edit", act, "/issues/{issue}/edit"),
    C(
        "POST",
        "/issues/<int:issue_id>/edit",
        act,
        "/issues/{issue}/edit",
        body=lambda ids: {
            "title": "Hoaks bansos (diperbaiki)",
            "channel": "x",
            "category": "hoax",
            "first_seen_at": "2026-11-26T09:30",
            "sentiment": "negative",
            "version": ids["issue_version"],
        },
    ),
    C("POST", "/issues/<int:issue_id>/monitor", act, "/issues/{issue}/monitor", body={}),
    C("POST", "/issues/<int:issue_id>/notes", act, "/issues/{issue}/notes", body={"body": "Tayangan naik."}),
    C(
        "POST",
        "/issues/<int:issue_id>/evidence",
        act,
        "/issues/{issue}/evidence",
        body={"url": "https://example.com/matrix/evidence"},
    ),
    C(
        "POST",
        "/issues/<int:issue_id>/merge",
        act,
        "/issues/{issue}/merge",
        body=lambda ids: {"target_id": ids["issue_b"]},
    ),
    C("GET", "/issues/<int:issue_id>/escalate", see, "/issues/{issue}/escalate"),
    C(
        "POST",
        "/issues/<int:issue_id>/escalate",
        act,
        "/issues/{issue_c}/escalate",
        body=lambda ids: {"playbook_key": "hoax-clarification", "severity": "3", "commander_id": ids["user"]},
    ),
    C("POST", "/issues/<int:issue_id>/dismiss", act, "/issues/{issue}/dismiss", body={"reason": "Bukan isu kami."}),
    # incidents
    C("GET", "/incidents", signed_in),
    C("GET", "/incidents", see, "/incidents?unit={unit}"),
    C("GET", "/incidents/<int:incident_id>", see, "/incidents/{incident}"),
    C("GET", "/incidents/<int:incident_id>/live", see, "/incidents/{incident}/live"),
    C("POST", "/incidents/<int:incident_id>/<verb>", act, "/incidents/{incident}/comment", body={"body": "Cek."}),
    C(
        "POST",
        "/incidents/<int:incident_id>/<verb>",
        act,
        "/incidents/{incident}/statements",
        body={"kind": "holding", "title": "Pernyataan awal", "body": "Kami mengetahui pesan yang beredar."},
    ),
    C(
        "POST",
        "/incidents/<int:incident_id>/<verb>",
        lead,
        "/incidents/{incident}/severity",
        body={"severity": "2", "reason": "Sebaran melambat."},
    ),
    C(
        "POST",
        "/incidents/<int:incident_id>/<verb>",
        designate_spokesperson,
        "/incidents/{incident}/spokesperson",
        body={"spokesperson_id": ""},
    ),
    C("POST", "/incidents/<int:incident_id>/<verb>", lead, "/incidents/{incident}/emergency", body={"status": "alert"}),
    C(
        "POST",
        "/incidents/<int:incident_id>/<verb>",
        lead,
        "/incidents/{incident}/involve",
        body=lambda ids: {"unit_id": ids["second_involved"]},
    ),
    C(
        "POST",
        "/incidents/<int:incident_id>/<verb>",
        lead,
        "/incidents/{incident}/release",
        body=lambda ids: {"unit_id": ids["second_involved"]},
    ),
    C("POST", "/incidents/<int:incident_id>/<verb>", lead, "/incidents/{incident}/resolve", body={}),
    C(
        "POST",
        "/incidents/<int:incident_id>/<verb>",
        lead,
        "/incidents/{incident}/handover",
        body={"to": "parent"},
        fresh="incident",
    ),
    C(
        "POST",
        "/incidents/<int:incident_id>/<verb>",
        lead,
        "/incidents/{incident}/cancel",
        body={"reason": "Alarm palsu."},
        fresh="incident",
    ),
    C(
        "POST",
        "/incidents/<int:incident_id>/entries/<int:entry_id>/<verb>",
        act,
        "/incidents/{incident}/entries/{entry}/tick",
        body={"evidence_url": "https://example.com/bukti"},
    ),
    C(
        "POST",
        "/incidents/<int:incident_id>/entries/<int:entry_id>/<verb>",
        act,
        "/incidents/{incident}/entries/{entry}/untick",
        body={},
    ),
    C(
        "POST",
        "/incidents/<int:incident_id>/entries/<int:entry_id>/<verb>",
        act,
        "/incidents/{incident}/entries/{entry}/note",
        body={"note": "Sudah dicek."},
    ),
    C(
        "POST",
        "/incidents/<int:incident_id>/entries/<int:entry_id>/<verb>",
        act,
        "/incidents/{incident}/entries/{entry}/assign",
        body=lambda ids: {"assignee_id": ids["user"]},
    ),
    C(
        "POST",
        "/incidents/<int:incident_id>/entries/<int:entry_id>/<verb>",
        lead,
        "/incidents/{incident}/entries/{entry}/waive",
        body={"reason": "Tidak relevan."},
    ),
    C(
        "POST",
        "/incidents/<int:incident_id>/stages/<int:run_id>/complete",
        act,
        "/incidents/{incident}/stages/{run}/complete",
        body={},
    ),
    C(
        "POST",
        "/incidents/<int:incident_id>/statements/<int:statement_id>/<verb>",
        act,
        "/incidents/{incident}/statements/{draft}/edit",
        body={"title": "Pernyataan awal", "body": "Teks baru."},
    ),
    C(
        "POST",
        "/incidents/<int:incident_id>/statements/<int:statement_id>/<verb>",
        approve_statement,
        "/incidents/{incident}/statements/{draft}/approve",
        body={},
    ),
    C(
        "POST",
        "/incidents/<int:incident_id>/statements/<int:statement_id>/<verb>",
        act,
        "/incidents/{incident}/statements/{keymsg}/publish",
        body={"channel": "website", "url": "https://example.go.id/a"},
    ),
    C(
        "POST",
        "/incidents/<int:incident_id>/statements/<int:statement_id>/<verb>",
        act,
        "/incidents/{incident}/statements/{keymsg}/share",
        body=lambda ids: {"unit_id": ids["involved"], "channel": "instagram", "url": "https://instagram.com/p/m"},
    ),
    # the media desk
    C("GET", "/incidents/<int:incident_id>/media", see, "/incidents/{incident}/media"),
    C("POST", "/incidents/<int:incident_id>/media", act, "/incidents/{incident}/media", body=MEDIA_QUESTION),
    C(
        "POST",
        "/incidents/<int:incident_id>/media/<int:query_id>/<verb>",
        act,
        "/incidents/{incident}/media/{media}/assign",
        body=lambda ids: {"assignee_id": ids["user"]},
    ),
    C(
        "POST",
        "/incidents/<int:incident_id>/media/<int:query_id>/<verb>",
        act,
        "/incidents/{incident}/media/{media}/decline",
        body={"decline_reason": "Data dari BPBD.", "holding_line": "Pembaruan pukul 15.00 WIB."},
        fresh="media",
    ),
    C(
        "POST",
        "/incidents/<int:incident_id>/media/<int:query_id>/<verb>",
        approve_statement,
        "/incidents/{incident}/media/{media}/approve_answer",
        body={},
        fresh="media",
    ),
    # exercises (drills)
    C("GET", "/exercises/new", signed_in),
    C(
        "POST",
        "/exercises/new",
        lead,
        body=lambda ids: {"scenario": "hoax-pdam-water", "unit_id": ids["unit"]},
        target=True,
    ),
    C("GET", "/exercises/<int:exercise_id>", see, "/exercises/{exercise}"),
    C("POST", "/exercises/<int:exercise_id>/end", lead, "/exercises/{exercise}/end"),
    C("POST", "/exercises/<int:exercise_id>/evaluate", lead, "/exercises/{exercise}/evaluate", body={}),
    C("GET", "/exercises/<int:exercise_id>/report.pdf", see, "/exercises/{exercise}/report.pdf"),
    C("GET", "/units/<int:unit_id>/readiness", see, "/units/{unit}/readiness"),
    C(
        "POST",
        "/units/<int:unit_id>/readiness/target",
        unit_head,
        "/units/{unit}/readiness/target",
        body={"year": str(NOW.year), "target": "3"},
    ),
    # reviews
    C("GET", "/reviews", signed_in),
    C("GET", "/incidents/<int:incident_id>/review", see, "/incidents/{review_incident}/review"),
    C("GET", "/incidents/<int:incident_id>/review.<fmt>", see, "/incidents/{review_incident}/review.json"),
    C(
        "POST",
        "/reviews/<int:review_id>/<verb>",
        act,
        "/reviews/{review}/edit",
        body={"summary": "Ringkas.", "went_well": "Cepat.", "to_improve": "Koordinasi."},
    ),
    C(
        "POST",
        "/reviews/<int:review_id>/<verb>",
        act,
        "/reviews/{review}/actions",
        body=lambda ids: {"title": "Perbarui FAQ", "owner_id": ids["user"], "due_on": LATER},
    ),
    C("POST", "/reviews/<int:review_id>/<verb>", act, "/reviews/{review}/submit", body={}),
    C("POST", "/reviews/<int:review_id>/<verb>", head_only, "/reviews/{review}/return", body={"reason": "Lengkapi."}),
    C("POST", "/reviews/<int:review_id>/<verb>", head_only, "/reviews/{review}/approve", body={}),
    C("POST", "/action-items/<int:item_id>/status", act, "/action-items/{item}/status", body={"status": "done"}),
    # the deadline engine
    C("GET", "/inbox", signed_in),
    # the desk: what is waiting for me, and search (both show only what the person may see)
    C("GET", "/waiting", signed_in),
    C("GET", "/search", signed_in, "/search?q=hoaks"),
    C("POST", "/inbox/read", signed_in, body=lambda ids: {"notice_id": ids["notice"]}, target=True),
    C("POST", "/inbox/<int:notice_id>/ack", act, "/inbox/{notice}/ack", body={}),
    C("POST", "/inbox/channels", signed_in, body={"email": "on", "inapp": "on"}),
    # chat channels (crisis.notify.views, crisis.escalation.chat_views)
    C("GET", "/settings/channels", signed_in),
    C("POST", "/settings/channels", signed_in, body={"order": "email"}),
    C("POST", "/settings/channels/whatsapp/number", signed_in, body={"number": "0812"}),
    C("POST", "/settings/channels/whatsapp/code", signed_in, body={"code": "1"}),
    C(
        "POST",
        "/settings/channels/<any(telegram, whatsapp):channel>/unlink",
        signed_in,
        "/settings/channels/telegram/unlink",
        body={},
    ),
    C("POST", "/hooks/telegram", service_signed, body={}),
    C("GET", "/hooks/whatsapp", service_signed),
    C("POST", "/hooks/whatsapp", service_signed, body={}),
    C("GET", "/admin/units/<int:unit_id>/webhooks", administer, "/admin/units/{unit}/webhooks"),
    C(
        "POST",
        "/admin/units/<int:unit_id>/webhooks",
        administer,
        "/admin/units/{unit}/webhooks",
        body={"name": "Matriks", "url": "https://hooks.example.com/matrix-page"},
    ),
    C(
        "POST",
        "/admin/webhooks/<int:webhook_id>/active",
        administer,
        "/admin/webhooks/{webhook}/active",
        body={"active": "1"},
    ),
    # SOPs
    C("GET", "/playbooks", signed_in),
    C("GET", "/playbooks/<key>", signed_in, "/playbooks/hoax-clarification"),
    C("GET", "/playbooks/<key>/v<int:number>", signed_in, "/playbooks/hoax-clarification/v1"),
    C("GET", "/playbooks/<key>/v<int:number>.yaml", signed_in, "/playbooks/hoax-clarification/v1.yaml"),
    C("GET", "/playbooks/publish", central_admin),
    C("GET", "/playbooks/holidays", central_admin),
    C(
        "POST",
        "/playbooks/holidays",
        central_admin,
        body={"day": "2026-12-24", "name": "Cuti bersama Natal", "action": "add"},
    ),
    C("POST", "/playbooks/publish", central_admin, body={"yaml": "key: x\n", "action": "validate"}),
    C("GET", "/playbooks/<key>/edit", central_admin, "/playbooks/hoax-clarification/edit"),
    C(
        "POST",
        "/playbooks/<key>/edit",
        central_admin,
        "/playbooks/hoax-clarification/edit",
        body={"yaml": "key: x\n", "action": "validate"},
    ),
    # evaluation
    C("GET", "/evaluation", see, "/evaluation?unit={unit}"),
    C("GET", "/evaluation/<table>.csv", see, "/evaluation/counts.csv?unit={unit}"),
    C("GET", "/evaluation/reports", signed_in),
    C("POST", "/evaluation/reports", act, body=lambda ids: {"unit_id": ids["unit"], "month": "2027-01"}, target=True),
    C("GET", "/evaluation/reports/<int:report_id>.pdf", see, "/evaluation/reports/{report}.pdf"),
    C(
        "POST",
        "/evaluation/targets",
        set_targets,
        body=lambda ids: {
            "unit_id": ids["unit"],
            "measure": "time_to_holding_statement",
            "target_percent": "80",
            "threshold_minutes": "60",
            "comparison": "<=",
        },
        target=True,
    ),
    C(
        "POST",
        "/evaluation/targets/<int:target_id>/delete",
        set_targets,
        "/evaluation/targets/{kpi}/delete",
        body={},
        fresh="kpi",
    ),
    # last: it ends the session the rest of the table uses
    C("POST", "/logout", signed_in, body={}),
]

API = [
    C("GET", "/api/v1/openapi.json", public),
    C("GET", "/api/v1/me", signed_in),
    C("GET", "/api/v1/units", signed_in),
    C("POST", "/api/v1/units", admin_of_parent, body=lambda ids: ids["new_unit_json"], target=True),
    C("GET", "/api/v1/units/<int:unit_id>", see, "/api/v1/units/{unit}"),
    C(
        "PATCH",
        "/api/v1/units/<int:unit_id>",
        administer,
        "/api/v1/units/{unit}",
        body=lambda ids: {"name": ids["unit_name"]},
    ),
    C("GET", "/api/v1/users", signed_in),
    C("POST", "/api/v1/users", admin_of_parent, body=lambda ids: ids["new_user_json"], target=True),
    C("GET", "/api/v1/users/<int:user_id>", see, "/api/v1/users/{user}"),
    C(
        "PATCH",
        "/api/v1/users/<int:user_id>",
        administer,
        "/api/v1/users/{user}",
        body=lambda ids: {"name": ids["user_name"]},
    ),
    C(
        "POST",
        "/api/v1/users/<int:user_id>/memberships",
        administer,
        "/api/v1/users/{user}/memberships",
        body=lambda ids: {"unit_id": ids["unit"], "role": "officer"},
    ),
    C(
        "PATCH",
        "/api/v1/memberships/<int:membership_id>",
        administer,
        "/api/v1/memberships/{membership}",
        body={"role": "officer"},
    ),
    C(
        "DELETE",
        "/api/v1/memberships/<int:membership_id>",
        administer,
        "/api/v1/memberships/{membership}",
        fresh="membership",
    ),
    C("GET", "/api/v1/duty-shifts", see, "/api/v1/duty-shifts?unit_id={unit}"),
    C(
        "POST",
        "/api/v1/duty-shifts",
        plan_roster,
        body=lambda ids: {
            "unit_id": ids["unit"],
            "user_id": ids["user"],
            "starts_at": "2026-11-28T07:00:00+07:00",
            "ends_at": "2026-11-28T19:00:00+07:00",
        },
        target=True,
    ),
    C("DELETE", "/api/v1/duty-shifts/<int:shift_id>", plan_roster, "/api/v1/duty-shifts/{shift}", fresh="shift"),
    C("GET", "/api/v1/tokens", signed_in),
    C("POST", "/api/v1/tokens", signed_in, body={"name": "matriks"}),
    C("DELETE", "/api/v1/tokens/<int:token_id>", owner, "/api/v1/tokens/{token}", target=True, own=True),
    # SOPs
    C("GET", "/api/v1/playbooks", signed_in),
    C(
        "POST",
        "/api/v1/playbooks",
        central_admin,
        body=lambda ids: {"yaml": ids["sop_yaml"], "filename": "hoax-clarification.yaml"},
    ),
    C("POST", "/api/v1/playbooks/validate", signed_in, body={"yaml": "key: x\n"}),
    C("GET", "/api/v1/playbooks/<key>", signed_in, "/api/v1/playbooks/hoax-clarification"),
    C("GET", "/api/v1/playbooks/<key>/versions", signed_in, "/api/v1/playbooks/hoax-clarification/versions"),
    C(
        "GET",
        "/api/v1/playbooks/<key>/versions/<int:number>",
        signed_in,
        "/api/v1/playbooks/hoax-clarification/versions/1",
    ),
    # issues
    C("GET", "/api/v1/issues", signed_in),
    C("POST", "/api/v1/issues", act, body=lambda ids: {**ISSUE, "unit_id": ids["unit"]}, target=True),
    C(
        "POST",
        "/api/v1/issues/batch",
        act,
        body=lambda ids: {"issues": [{**ISSUE, "unit_id": ids["unit"]}]},
        target=True,
    ),
    C("GET", "/api/v1/issues/<int:issue_id>", see, "/api/v1/issues/{issue}"),
    C(
        "PATCH",
        "/api/v1/issues/<int:issue_id>",
        act,
        "/api/v1/issues/{issue}",
        body=lambda ids: {"version": ids["issue_version"], "title": "Hoaks bansos (diperbaiki)"},
    ),
    C("POST", "/api/v1/issues/<int:issue_id>/monitor", act, "/api/v1/issues/{issue}/monitor", body={}),
    C("POST", "/api/v1/issues/<int:issue_id>/notes", act, "/api/v1/issues/{issue}/notes", body={"body": "Naik."}),
    C(
        "POST",
        "/api/v1/issues/<int:issue_id>/evidence",
        act,
        "/api/v1/issues/{issue}/evidence",
        body={"url": "https://example.com/matrix/api-evidence"},
    ),
    C(
        "POST",
        "/api/v1/issues/<int:issue_id>/merge",
        act,
        "/api/v1/issues/{issue}/merge",
        body=lambda ids: {"target_id": ids["issue_b"]},
    ),
    C(
        "POST",
        "/api/v1/issues/<int:issue_id>/escalate",
        act,
        "/api/v1/issues/{issue_c}/escalate",
        body=lambda ids: {"playbook_key": "hoax-clarification", "severity": 3, "commander_id": ids["user"]},
    ),
    C(
        "POST",
        "/api/v1/issues/<int:issue_id>/dismiss",
        act,
        "/api/v1/issues/{issue}/dismiss",
        body={"reason": "Bukan isu kami."},
    ),
    # incidents
    C("GET", "/api/v1/incidents", signed_in),
    C("GET", "/api/v1/incidents/<int:incident_id>", see, "/api/v1/incidents/{incident}"),
    C("GET", "/api/v1/incidents/<int:incident_id>/timeline", see, "/api/v1/incidents/{incident}/timeline"),
    C("GET", "/api/v1/incidents/<int:incident_id>/notices", see, "/api/v1/incidents/{incident}/notices"),
    C(
        "POST",
        "/api/v1/incidents/<int:incident_id>/comments",
        act,
        "/api/v1/incidents/{incident}/comments",
        body={"body": "Cek."},
    ),
    C(
        "POST",
        "/api/v1/incidents/<int:incident_id>/statements",
        act,
        "/api/v1/incidents/{incident}/statements",
        body={"kind": "holding", "title": "Pernyataan awal", "body": "Kami mengetahui pesan yang beredar."},
    ),
    C(
        "POST",
        "/api/v1/incidents/<int:incident_id>/severity",
        lead,
        "/api/v1/incidents/{incident}/severity",
        body={"severity": 2, "reason": "Sebaran melambat."},
    ),
    C(
        "POST",
        "/api/v1/incidents/<int:incident_id>/spokesperson",
        designate_spokesperson,
        "/api/v1/incidents/{incident}/spokesperson",
        body={"spokesperson_id": None},
    ),
    C(
        "POST",
        "/api/v1/incidents/<int:incident_id>/emergency-status",
        lead,
        "/api/v1/incidents/{incident}/emergency-status",
        body={"status": "response"},
    ),
    C(
        "POST",
        "/api/v1/incidents/<int:incident_id>/involved",
        lead,
        "/api/v1/incidents/{incident}/involved",
        body=lambda ids: {"unit_id": ids["second_involved"]},
    ),
    C(
        "DELETE",
        "/api/v1/incidents/<int:incident_id>/involved/<int:unit_id>",
        lead,
        "/api/v1/incidents/{incident}/involved/{second_involved}",
    ),
    C("POST", "/api/v1/incidents/<int:incident_id>/resolve", lead, "/api/v1/incidents/{incident}/resolve", body={}),
    C(
        "POST",
        "/api/v1/incidents/<int:incident_id>/handover",
        lead,
        "/api/v1/incidents/{incident}/handover",
        body={"to": "parent"},
        fresh="incident",
    ),
    C(
        "POST",
        "/api/v1/incidents/<int:incident_id>/cancel",
        lead,
        "/api/v1/incidents/{incident}/cancel",
        body={"reason": "Alarm palsu."},
        fresh="incident",
    ),
    C(
        "POST",
        "/api/v1/incidents/<int:incident_id>/stages/<int:run_id>/complete",
        act,
        "/api/v1/incidents/{incident}/stages/{run}/complete",
    ),
    C(
        "POST",
        "/api/v1/checklist/<int:entry_id>/tick",
        act,
        "/api/v1/checklist/{entry}/tick",
        body={"evidence_url": "https://example.com/bukti"},
    ),
    C("POST", "/api/v1/checklist/<int:entry_id>/untick", act, "/api/v1/checklist/{entry}/untick"),
    C(
        "POST",
        "/api/v1/checklist/<int:entry_id>/recorded-time",
        act,
        "/api/v1/checklist/{entry}/recorded-time",
        body={"recorded_at": "2020-01-01T00:00:00+00:00"},
    ),
    C("PATCH", "/api/v1/checklist/<int:entry_id>", act, "/api/v1/checklist/{entry}", body={"note": "Sudah dicek."}),
    C(
        "POST",
        "/api/v1/checklist/<int:entry_id>/waive",
        lead,
        "/api/v1/checklist/{entry}/waive",
        body={"reason": "Tidak relevan."},
    ),
    C(
        "PATCH",
        "/api/v1/statements/<int:statement_id>",
        act,
        "/api/v1/statements/{draft}",
        body={"title": "Pernyataan awal", "body": "Teks baru."},
    ),
    C(
        "POST",
        "/api/v1/statements/<int:statement_id>/approve",
        approve_statement,
        "/api/v1/statements/{draft}/approve",
        body={},
    ),
    C(
        "POST",
        "/api/v1/statements/<int:statement_id>/return",
        approve_statement,
        "/api/v1/statements/{draft}/return",
        body={"reason": "Angka korban belum dikonfirmasi."},
    ),
    C(
        "POST",
        "/api/v1/statements/<int:statement_id>/publish",
        act,
        "/api/v1/statements/{keymsg}/publish",
        body={"channel": "website", "url": "https://example.go.id/a"},
    ),
    C(
        "POST",
        "/api/v1/statements/<int:statement_id>/shared-publications",
        act,
        "/api/v1/statements/{keymsg}/shared-publications",
        body=lambda ids: {"unit_id": ids["involved"], "channel": "instagram", "url": "https://instagram.com/p/m"},
    ),
    # the media desk
    C(
        "POST",
        "/api/v1/incidents/<int:incident_id>/media-queries",
        act,
        "/api/v1/incidents/{incident}/media-queries",
        body=MEDIA_QUESTION,
    ),
    C("GET", "/api/v1/incidents/<int:incident_id>/media-queries", see, "/api/v1/incidents/{incident}/media-queries"),
    C(
        "PATCH",
        "/api/v1/media-queries/<int:query_id>",
        act,
        "/api/v1/media-queries/{media}",
        body=lambda ids: {"action": "assign", "assignee_id": ids["user"]},
    ),
    C(
        "PATCH",
        "/api/v1/media-queries/<int:query_id>",
        approve_statement,
        "/api/v1/media-queries/{media}",
        body={"action": "approve_answer"},
        fresh="media",
    ),
    # the deadline engine
    C("POST", "/api/v1/notices/<int:notice_id>/ack", act, "/api/v1/notices/{notice}/ack"),
    C("GET", "/api/v1/me/notices", signed_in),
    C("GET", "/api/v1/me/channels", signed_in),
    C("PUT", "/api/v1/me/channels", signed_in, body={"channels": {"inapp": True}}),
    C("GET", "/api/v1/units/<int:unit_id>/webhooks", administer, "/api/v1/units/{unit}/webhooks"),
    C(
        "POST",
        "/api/v1/units/<int:unit_id>/webhooks",
        administer,
        "/api/v1/units/{unit}/webhooks",
        body={"name": "Matriks", "url": "https://hooks.example.com/matrix"},
    ),
    C("PATCH", "/api/v1/webhooks/<int:webhook_id>", administer, "/api/v1/webhooks/{webhook}", body={"active": True}),
    # reviews
    C("GET", "/api/v1/incidents/<int:incident_id>/review", see, "/api/v1/incidents/{review_incident}/review"),
    C(
        "GET",
        "/api/v1/incidents/<int:incident_id>/review/export",
        see,
        "/api/v1/incidents/{review_incident}/review/export?format=md",
    ),
    C(
        "PATCH",
        "/api/v1/reviews/<int:review_id>",
        act,
        "/api/v1/reviews/{review}",
        body={"summary": "Ringkas.", "went_well": "Cepat.", "to_improve": "Koordinasi."},
    ),
    C(
        "POST",
        "/api/v1/reviews/<int:review_id>/action-items",
        act,
        "/api/v1/reviews/{review}/action-items",
        body=lambda ids: {"title": "Perbarui FAQ", "owner_id": ids["user"], "due_on": LATER},
    ),
    C("POST", "/api/v1/reviews/<int:review_id>/submit", act, "/api/v1/reviews/{review}/submit", body={}),
    C(
        "POST",
        "/api/v1/reviews/<int:review_id>/return",
        head_only,
        "/api/v1/reviews/{review}/return",
        body={"reason": "Lengkapi."},
    ),
    C("POST", "/api/v1/reviews/<int:review_id>/approve", head_only, "/api/v1/reviews/{review}/approve", body={}),
    C("PATCH", "/api/v1/action-items/<int:item_id>", act, "/api/v1/action-items/{item}", body={"status": "done"}),
    C("GET", "/api/v1/action-items", signed_in),
    # evaluation
    C("GET", "/api/v1/evaluation", see, "/api/v1/evaluation?unit={unit}"),
    C("GET", "/api/v1/evaluation/<table>.csv", see, "/api/v1/evaluation/counts.csv?unit={unit}"),
    C(
        "PUT",
        "/api/v1/units/<int:unit_id>/kpi-targets",
        set_targets,
        "/api/v1/units/{unit}/kpi-targets",
        body={"measure": "time_to_holding_statement", "target_percent": 80, "threshold_minutes": 60},
    ),
    C("GET", "/api/v1/kpi-targets", signed_in),
    C("DELETE", "/api/v1/kpi-targets/<int:target_id>", set_targets, "/api/v1/kpi-targets/{kpi}", fresh="kpi"),
    C(
        "POST",
        "/api/v1/units/<int:unit_id>/monthly-reports",
        act,
        "/api/v1/units/{unit}/monthly-reports",
        body={"month": "2027-01"},
    ),
    C("GET", "/api/v1/monthly-reports/<int:report_id>", see, "/api/v1/monthly-reports/{report}"),
    C("GET", "/api/v1/monthly-reports/<int:report_id>.pdf", see, "/api/v1/monthly-reports/{report}.pdf"),
    # the audit trail
    C("GET", "/api/v1/audit-events", admin_anywhere),
    # exercises (drills)
    C(
        "POST",
        "/api/v1/exercises",
        lead,
        body=lambda ids: {"scenario": "hoax-pdam-water", "unit_id": ids["unit"]},
        target=True,
    ),
    C("GET", "/api/v1/exercises/<int:exercise_id>", see, "/api/v1/exercises/{exercise}"),
    C("POST", "/api/v1/exercises/<int:exercise_id>/end", lead, "/api/v1/exercises/{exercise}/end"),
    C(
        "PUT",
        "/api/v1/exercises/<int:exercise_id>/evaluation",
        lead,
        "/api/v1/exercises/{exercise}/evaluation",
        body={"ratings": {}},
    ),
]


def test_every_route_is_in_the_table(app):
    served = {(rule.rule, method) for rule in app.url_map.iter_rules() for method in rule.methods - {"HEAD", "OPTIONS"}}
    listed = {(check.rule, check.method) for check in PAGES + API}
    assert served - listed == set(), "routes without an access rule: add them to the table"
    assert listed - served == set(), "the table names routes the app does not serve"


# --- the records ----------------------------------------------------------------------------------


def _issue(world: World, actor: Any, unit: Any, title: str) -> Any:
    return factories.log_issue(
        world.session,
        world.org,
        now=NOW,
        unit=unit.code,
        actor=actor,
        title=title,
        channel="x",
        description="Pesan berantai di grup warga.",
        evidence_urls=[f"https://example.com/{unit.code.lower()}/" + re.sub(r"\W+", "-", title.lower())],
    )


@dataclass
class World:
    """The records of each target unit by name, factories for records an allowed action uses up, and
    each actor's own records."""

    session: Any
    org: dict[str, Any]
    sop_yaml: str
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    counter: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def user(self, code: str, role: str) -> Any:
        return self.org["users"][(code, role)]

    def witness(self, code: str) -> Any:
        return self.records[code]["witness"]

    def admin_over(self, code: str) -> Any:
        return self.user(ADMIN_OVER[code], "admin")

    def incident(self, code: str) -> Any:
        unit, witness = self.org["units"][code], self.witness(code)
        issue = _issue(self, witness, unit, f"Air PDAM tercemar {next(self.counter)}")
        incident = incidents.open_from_issue(
            session=self.session,
            actor=witness,
            issue_id=issue.id,
            playbook_key="hoax-clarification",
            severity=3,
            commander_id=witness.id,
            now=NOW,
        )
        for involved in (INVOLVED[code], SECOND_INVOLVED):
            incidents.involve_unit(
                session=self.session,
                actor=witness,
                incident_id=incident.id,
                unit_id=self.org["units"][involved].id,
                now=NOW,
            )
        return incident

    def media_query(self, code: str, incident_id: int) -> Any:
        """A journalist's question on the incident, logged by the witness, with an answer they wrote."""
        witness = self.records[code]["witness"]
        query = media.log(
            session=self.session,
            actor=witness,
            incident_id=incident_id,
            fields=dict(MEDIA_QUESTION, received_at=NOW),
            now=NOW + M,
        )
        media.draft_answer(
            session=self.session, actor=witness, query_id=query.id, answer_text="Air aman diminum.", now=NOW + M
        )
        return query

    def fresh(self, kind: str, code: str) -> dict[str, Any]:
        unit = self.org["units"][code]
        if kind == "incident":
            ids = {"incident": self.incident(code).id}
        elif kind == "shift":
            shift = duty.create_shift(
                session=self.session,
                actor=self.user(code, "head"),
                unit_id=unit.id,
                user_id=self.witness(code).id,
                starts_at=NOW + 48 * 60 * M,
                ends_at=NOW + 60 * 60 * M,
                note="matriks",
            )
            ids = {"shift": shift.id}
        elif kind == "membership":
            extra = people.create_user(
                session=self.session,
                actor=None,
                email=f"sementara{next(self.counter)}.{code.lower()}@demo.example",
                name="Staf Sementara",
                password="Kata-sandi-panjang-2026",
                unit_id=unit.id,
                role="observer",
            )
            ids = {"membership": extra.memberships[0].id}
        elif kind == "media":
            ids = {"media": self.media_query(code, self.records[code]["incident"]).id}
        elif kind == "kpi":
            target = reports.set_target(
                session=self.session,
                actor=self.user(code, "head"),
                unit_id=unit.id,
                measure="time_to_first_statement",
                target_percent=75,
                threshold_minutes=120,
                now=NOW,
            )
            ids = {"kpi": target.id}
        else:
            raise AssertionError(kind)
        self.session.commit()
        return ids

    def build(self, code: str) -> None:
        session, unit = self.session, self.org["units"][code]
        witness = people.create_user(
            session=session,
            actor=None,
            email=f"saksi.{code.lower()}@demo.example",
            name=f"Saksi {code}",
            password="Kata-sandi-panjang-2026",
            unit_id=unit.id,
            role="officer",
        )
        self.records[code] = {"witness": witness}
        head = self.user(code, "head")
        issue = _issue(self, witness, unit, "Hoaks bansos Rp 3 juta")
        duplicate = _issue(self, witness, unit, "Hoaks bansos Rp 3 juta beredar lagi")
        to_escalate = _issue(self, witness, unit, "Video antrean KTP viral")
        incident = self.incident(code)
        run = incident.stage_runs[0]
        entry = next(e for e in run.entries if not e.evidence_expected)
        draft = statements.draft(
            session=session,
            actor=witness,
            incident_id=incident.id,
            kind="holding",
            title="Pernyataan awal",
            body="Kami mengetahui pesan yang beredar.",
            now=NOW,
        )
        keymsg = statements.draft(
            session=session,
            actor=witness,
            incident_id=incident.id,
            kind="key_messages",
            title="Pesan kunci",
            body="Air PDAM aman diminum.",
            now=NOW,
        )
        statements.approve(session=session, actor=head, statement_id=keymsg.id, now=NOW + M)
        media_query = self.media_query(code, incident.id)
        # A resolved incident and its review draft with an action item.
        reviewed = self.incident(code)
        factories.run_through(session, witness, reviewed, now=NOW + 2 * M)
        incidents.resolve(session=session, actor=witness, incident_id=reviewed.id, now=NOW + 3 * M)
        review = reviews.get_for_incident(session=session, user=witness, incident_id=reviewed.id)
        action_item = reviews.add_action_item(
            session=session,
            actor=witness,
            review_id=review.id,
            title="FAQ",
            owner_id=witness.id,
            due_on=LATER,
            now=NOW + 4 * M,
        )
        # An escalation notice to the witness, as the engine writes it.
        timer = Timer(
            incident_id=incident.id,
            stage_run_id=run.id,
            kind="escalation_step",
            step_index=0,
            fire_at=NOW + 30 * M,
            state="fired",
            fired_at=NOW + 30 * M,
        )
        session.add(timer)
        session.flush()
        notice = Notice(
            idempotency_key=f"matrix:{timer.id}:{witness.id}",
            timer_id=timer.id,
            incident_id=incident.id,
            channel="inapp",
            recipient_user_id=witness.id,
            payload={"kind": "escalation_step"},
            status="sent",
            attempts=1,
            due_at=timer.fire_at,
            queued_at=timer.fire_at,
            next_attempt_at=timer.fire_at,
            sent_at=timer.fire_at,
        )
        session.add(notice)
        session.flush()
        hook = notify.create_webhook(
            session=session,
            actor=self.admin_over(code),
            unit_id=unit.id,
            name="Piket",
            url=f"https://hooks.example.com/{code.lower()}",
        )
        kpi = reports.set_target(
            session=session,
            actor=head,
            unit_id=unit.id,
            measure="time_to_holding_statement",
            target_percent=90,
            threshold_minutes=60,
            now=NOW,
        )
        last_month = f"{monthly.previous_month(NOW, unit.timezone):%Y-%m}"  # planned from the suite's clock
        report = monthly.request_monthly(session=session, actor=head, unit_id=unit.id, month=last_month, now=NOW)
        shift = duty.create_shift(
            session=session,
            actor=head,
            unit_id=unit.id,
            user_id=witness.id,
            starts_at=NOW + 24 * 60 * M,
            ends_at=NOW + 36 * 60 * M,
            note="matriks",
        )
        drill = exercises.start(
            session=session, actor=head, scenario_key="hoax-pdam-water", unit_id=unit.id, now=NOW + 5 * M
        )
        token, _plaintext = people.create_token(session=session, user=witness, name="alat pemantauan")
        # Imported in bulk, no password yet: their invitation link is the credential, whoever opens it.
        invited = User(
            email=f"undangan.{code.lower()}@contoh.example", name="Undangan Matriks", password_hash=NO_PASSWORD
        )
        invited.memberships.append(Membership(unit=unit, role="officer"))
        session.add(invited)
        session.flush()
        monthly.build_monthly(session=session, report_id=report.id, now=NOW)
        session.commit()
        self.records[code].update(
            {
                "unit": unit.id,
                "unit_name": unit.name,
                "issue": issue.id,
                "issue_version": issue.version,
                "issue_b": duplicate.id,
                "issue_c": to_escalate.id,
                "incident": incident.id,
                "run": run.id,
                "entry": entry.id,
                "draft": draft.id,
                "keymsg": keymsg.id,
                "media": media_query.id,
                "involved": self.org["units"][INVOLVED[code]].id,
                "second_involved": self.org["units"][SECOND_INVOLVED].id,
                "review": review.id,
                "exercise": drill.id,
                "review_incident": reviewed.id,
                "item": action_item.id,
                "notice": notice.id,
                "ack": links.ack_token(notice),
                "invite": invitations.token(invited),
                "webhook": hook.id,
                "kpi": kpi.id,
                "report": report.id,
                "shift": shift.id,
                "user": witness.id,
                "user_name": witness.name,
                "membership": witness.memberships[0].id,
                "token": token.id,
                "unit_form": {
                    "code": unit.code,
                    "name": unit.name,
                    "kind": unit.kind,
                    "parent_id": str(unit.parent_id or ""),
                    "timezone": unit.timezone,
                },
                "user_form": {"email": witness.email, "name": witness.name, "language": "id", "active": "y"},
            }
        )


@pytest.fixture
def world(app, db, org, client):  # client: every test client gets its own app context per request
    from crisis.config import resource_dir

    app.extensions["clock"] = lambda: NOW
    # Jawa Tengah has no observer in the demo organisation; the matrix needs every role there.
    org["users"][("JATENG", "observer")] = people.create_user(
        session=db.session,
        actor=None,
        email="pemantau.jateng@demo.example",
        name="Pemantau Jateng",
        password="Kata-sandi-panjang-2026",
        unit_id=org["units"]["JATENG"].id,
        role="observer",
    )
    db.session.commit()
    built = World(session=db.session, org=org, sop_yaml=(resource_dir("sops") / "hoax-clarification.yaml").read_text())
    for code in ("JATENG", "KOTA-SEMARANG", "SULSEL", "PUSAT"):
        built.build(code)
    yield built
    app.extensions.pop("clock", None)


# --- running the table ----------------------------------------------------------------------------


def _targets(check: Check, actor: Actor) -> list[str | None]:
    if not check.target:
        return [None]
    if actor.role is None and check.access is not public:
        return ["own"]  # refused before any record is read: one record is enough
    relations: list[str | None] = list((CENTRAL_TARGETS if actor.central else PROVINCE_TARGETS).keys())
    if check.own and actor.role is not None:
        relations.append("self")
    return relations


def _expected(check: Check, actor: Actor, relation: str | None) -> str:
    if check.access is service_signed:
        return FORBIDDEN
    if actor.role is None:
        return OK if check.access is public else LOGIN
    return check.access(actor, relation)


def _outcome(check: Check, response: Any) -> str:
    status = response.status_code
    if check.api and status == 401:
        return LOGIN
    location = response.headers.get("Location", "")
    if not check.api and status == 302 and location.startswith("/login") and "next=" in location:
        return LOGIN  # (signing out also lands on /login, without a page to come back to)
    if status in (403, 404):
        return str(status)
    if status in check.also_ok or status < 400 or status in (409, 422):
        return OK
    return f"status {status}"


@dataclass
class Run:
    world: World
    clients: dict[Actor, FlaskClient]
    headers: dict[Actor, dict[str, str]]
    csrf: dict[Actor, str]
    own: dict[Actor, dict[str, Any]]
    checks: int = 0
    mismatches: list[str] = field(default_factory=list)

    def _bodies(self, code: str) -> dict[str, Any]:
        """New units and users under / in unit `code`, with names not used before."""
        number = next(self.world.counter)
        unit = self.world.org["units"][code]
        child_kind = "province" if unit.kind == "central" else "regency"
        return {
            "n": number,
            "new_unit_form": {
                "code": f"MATRIKS-{number}",
                "name": f"Unit matriks {number}",
                "kind": child_kind,
                "parent_id": str(unit.id),
                "timezone": unit.timezone,
            },
            "new_unit_json": {
                "code": f"MATRIKS-{number}",
                "name": f"Unit matriks {number}",
                "kind": child_kind,
                "parent_id": unit.id,
                "timezone": unit.timezone,
            },
            "new_user_form": {
                "email": f"baru{number}@demo.example",
                "name": f"Staf Baru {number}",
                "password": "Kata-sandi-panjang-2026",
                "language": "id",
                "unit_id": str(unit.id),
                "role": "officer",
            },
            "new_user_json": {
                "email": f"baru{number}@demo.example",
                "name": f"Staf Baru {number}",
                "password": "Kata-sandi-panjang-2026",
                "unit_id": unit.id,
                "role": "officer",
            },
            "sop_yaml": self.world.sop_yaml,
        }

    def ids(self, check: Check, actor: Actor, relation: str | None, expected: str) -> dict[str, Any]:
        """The records a check addresses: a target unit's, the actor's own, or (for routes that are
        not about a unit's records) those of the actor's unit."""
        home = actor.unit if actor.role else "JATENG"
        if relation is None:
            return {**self.world.records[home], **self._bodies(home)}
        if relation == "self":
            return {**self.world.records[home], **self._bodies(home), **self.own[actor]}
        code = (CENTRAL_TARGETS if actor.central else PROVINCE_TARGETS)[relation]
        ids = {**self.world.records[code], **self._bodies(code)}
        if check.fresh and expected == OK:
            ids.update(self.world.fresh(check.fresh, code))
        return ids

    def request(self, check: Check, actor: Actor, relation: str | None) -> None:
        expected = _expected(check, actor, relation)
        ids = self.ids(check, actor, relation, expected)
        path = (check.path or check.rule).format(**ids)
        body = check.body(ids) if callable(check.body) else check.body
        client = self.clients[actor]
        self.checks += 1
        try:
            if check.api:
                kwargs: dict[str, Any] = {"headers": self.headers.get(actor, {})}
                if body is not None and actor.role is not None:  # the anonymous send nothing: 401 comes first
                    kwargs["json"] = body
                response = client.open(path, method=check.method, **kwargs)
            else:
                data = {**(body or {}), "csrf_token": self.csrf[actor]} if check.method != "GET" else None
                response = client.open(path, method=check.method, data=data)
        except Exception as error:  # noqa: BLE001  a crash is a finding like any other; keep going
            got = f"an exception: {type(error).__name__}: {str(error)[:200]}"
        else:
            got = _outcome(check, response)
            response.close()
        if got != expected:
            self.mismatches.append(
                f"{check.method} {path} [{check.rule}] as {actor} on {relation or '-'}: expected {expected}, got {got}"
            )

    def run(self, table: list[Check]) -> None:
        for check in table:
            for actor in ACTORS:
                for relation in _targets(check, actor):
                    self.request(check, actor, relation)


def _run(app: Any, world: World) -> Run:
    """Each actor signs in once (pages) and holds one API token; anonymous gets a CSRF token too, so
    its form posts reach the sign-in check instead of failing on the token."""
    clients: dict[Actor, FlaskClient] = {}
    headers: dict[Actor, dict[str, str]] = {}
    csrf: dict[Actor, str] = {}
    own: dict[Actor, dict[str, Any]] = {}
    for actor in ACTORS:
        client = app.test_client()
        clients[actor] = client
        if actor.role is None:
            csrf[actor] = csrf_token(client)
            continue
        user = world.user(actor.unit, actor.role)
        token, _plaintext = people.create_token(session=world.session, user=user, name="sendiri")
        own[actor] = {"token": token.id}
        _row, plaintext = people.create_token(session=world.session, user=user, name="matriks")
        headers[actor] = {"Authorization": f"Bearer {plaintext}"}
        world.session.commit()
        assert sign_in(client, user.email, _password(user)).status_code == 302, actor
        csrf[actor] = csrf_token(client, "/account/password")
    return Run(world=world, clients=clients, headers=headers, csrf=csrf, own=own)


def _password(user: Any) -> str:
    from tests.conftest import DEMO_PASSWORD

    return "Kata-sandi-panjang-2026" if user.email == "pemantau.jateng@demo.example" else DEMO_PASSWORD


# The tables in contiguous shards, each on a world of its own, so that the test workers share them (one
# run of both took two minutes of one worker). A shard keeps its rows' order: the pages' last shard
# ends with signing out.
SHARDS = 3


def _shard(table: list[Check], index: int) -> list[Check]:
    size = -(-len(table) // SHARDS)
    return table[index * size : (index + 1) * size]


@pytest.mark.parametrize("index", range(SHARDS))
@pytest.mark.parametrize("name", ["api", "pages"])
def test_every_route_answers_as_the_table_says(app, world, name, index):
    """Every mismatch of the shard is listed at once."""
    table = _shard(API if name == "api" else PAGES, index)
    assert table, "an empty shard: fewer rows than SHARDS"
    run = _run(app, world)
    run.run(table)
    assert run.mismatches == [], f"{len(run.mismatches)} of {run.checks} checks:\n" + "\n".join(run.mismatches)


def test_the_shards_cover_each_table_once():
    for table in (API, PAGES):
        assert [check for index in range(SHARDS) for check in _shard(table, index)] == table


def test_an_involved_unit_reads_the_incident_and_its_notices_and_records_only_its_own_publication(
    client, db, org, token_for
):
    """Involvement brings another unit's incident into sight, not into its hands: the API answers the
    incident, its timeline and its notices (as the page shows them); the response stays the owning
    unit's, and the involved unit records only its own publication of the key messages."""
    world = World(session=db.session, org=org, sop_yaml="")
    world.records["SULSEL"] = {"witness": org["users"][("SULSEL", "officer")]}
    incident = world.incident("SULSEL")  # involves Kota Makassar (and Kabupaten Jayapura)
    keymsg = statements.draft(
        session=db.session,
        actor=org["users"][("SULSEL", "officer")],
        incident_id=incident.id,
        kind="key_messages",
        title="Pesan kunci",
        body="Air PDAM aman diminum.",
        now=NOW,
    )
    # The province's head signs first, then whoever else the SOP's chain asks for at this severity.
    factories.sign_through(db.session, keymsg, now=NOW, first=org["users"][("SULSEL", "head")])
    assert keymsg.state == "approved"
    db.session.commit()
    jayapura = token_for("officer", "KAB-JAYAPURA")
    for path in (
        f"/api/v1/incidents/{incident.id}",
        f"/api/v1/incidents/{incident.id}/timeline",
        f"/api/v1/incidents/{incident.id}/notices",
    ):
        assert client.get(path, headers=jayapura).status_code == 200, path
    assert client.get(f"/api/v1/incidents/{incident.id}", headers=token_for("officer", "KAB-GOWA")).status_code == 404
    comment = client.post(
        f"/api/v1/incidents/{incident.id}/comments", json={"body": "Ikut memantau."}, headers=jayapura
    )
    assert comment.status_code == 201  # the discussion is open to involved units
    entry = incident.stage_runs[0].entries[0]
    assert (
        client.post(
            f"/api/v1/checklist/{entry.id}/tick", json={"evidence_url": "https://example.com/b"}, headers=jayapura
        ).status_code
        == 403
    )
    assert client.post(f"/api/v1/incidents/{incident.id}/resolve", json={}, headers=jayapura).status_code == 403
    shared = {"channel": "instagram", "url": "https://instagram.com/p/jayapura"}
    own = client.post(
        f"/api/v1/statements/{keymsg.id}/shared-publications",
        headers=jayapura,
        json={**shared, "unit_id": org["units"]["KAB-JAYAPURA"].id},
    )
    assert own.status_code == 201, own.get_json()
    other = client.post(
        f"/api/v1/statements/{keymsg.id}/shared-publications",
        headers=jayapura,
        json={**shared, "unit_id": org["units"]["KOTA-MAKASSAR"].id},
    )
    assert other.status_code == 403
    # A notice of the incident to someone of the owning unit: the involved unit sees it and may not
    # acknowledge it for them (403, as for anything in sight); a unit not involved does not see it (404).
    run = incident.stage_runs[0]
    timer = Timer(
        incident_id=incident.id,
        stage_run_id=run.id,
        kind="escalation_step",
        step_index=0,
        fire_at=NOW + 30 * M,
        state="fired",
        fired_at=NOW + 30 * M,
    )
    db.session.add(timer)
    db.session.flush()
    sulsel_head = org["users"][("SULSEL", "head")]
    notice = Notice(
        idempotency_key=f"involved:{timer.id}:{sulsel_head.id}",
        timer_id=timer.id,
        incident_id=incident.id,
        channel="inapp",
        recipient_user_id=sulsel_head.id,
        payload={"kind": "escalation_step"},
        status="sent",
        attempts=1,
        due_at=timer.fire_at,
        queued_at=timer.fire_at,
        next_attempt_at=timer.fire_at,
        sent_at=timer.fire_at,
    )
    db.session.add(notice)
    db.session.commit()
    listed = client.get(f"/api/v1/incidents/{incident.id}/notices", headers=jayapura).get_json()
    assert notice.id in [row["id"] for row in listed]
    assert client.post(f"/api/v1/notices/{notice.id}/ack", headers=jayapura).status_code == 403
    gowa = token_for("officer", "KAB-GOWA")
    assert client.post(f"/api/v1/notices/{notice.id}/ack", headers=gowa).status_code == 404
    db.session.expire_all()
    assert db.session.get(Notice, notice.id).acknowledged_at is None
