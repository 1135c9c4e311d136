"""`Idempotency-Key` for POST endpoints: a retried request gets the first answer, never a second effect.

A monitoring tool that lost the answer to a POST sends it again with the same key. The first
successful answer is stored (IdempotencyRecord) in the same transaction as the effect it
describes, so either both are committed or neither is:

- same user, same key, same request  → the stored status and body, replayed; nothing is written;
- same user, same key, other request → 422 naming the `Idempotency-Key` header;
- another user, same key             → unrelated (keys are scoped per user);
- two copies at the same moment      → the unique (user_id, key) constraint lets one commit; the
                                       other rolls back its effect and replays the winner's answer.

Only successful answers are stored: a refused request changed nothing, so a retry is simply
evaluated again. The request is fingerprinted by method, path and canonical JSON body.

    @blp.doc(parameters=[IDEMPOTENCY_PARAMETER])
    def post(self, data):
        return respond_once(session=db.session, user=bearer_user(), perform=lambda: (201, dump(create(...))))
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask import Response, jsonify, request
from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint, bindparam, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from crisis import clock
from crisis.dbtypes import UTCDateTime
from crisis.errors import ValidationFailed
from crisis.extensions import db
from crisis.i18n import lazy_gettext as _l

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 200
REPLAYED_HEADER = "Idempotent-Replayed"

IDEMPOTENCY_PARAMETER = {
    "in": "header",
    "name": HEADER,
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH},
    "description": "Any unique string (a UUID is fine), chosen by the client and reused on every retry of "
    "the same request. A retry returns the first answer (with `Idempotent-Replayed: true`) instead of "
    "acting twice; reusing a key for a different request is refused with 422. Keys are per user.",
}


class IdempotencyRecord(db.Model):
    """The first answer to a request carrying an Idempotency-Key, replayed to every retry."""

    __tablename__ = "idempotency_record"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column()
    response_body: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)

    __table_args__ = (UniqueConstraint("user_id", "key"),)


class KeyReused(ValidationFailed):
    def __init__(self) -> None:
        super().__init__(
            {HEADER: [str(_l("This Idempotency-Key was already used for a different request; use a new key."))]}
        )


def request_key() -> str | None:
    """The header's value, or None when the client sent none; 422 when it is unusable."""
    raw = request.headers.get(HEADER)
    if raw is None:
        return None
    key = raw.strip()
    if not key or len(key) > MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
        raise ValidationFailed(
            {HEADER: [str(_l("Use 1–%(n)d printable ASCII characters, e.g. a UUID.", n=MAX_KEY_LENGTH))]}
        )
    return key


def request_fingerprint() -> str:
    """What makes two requests "the same": method, path and body (JSON compared by meaning)."""
    body = request.get_json(silent=True)
    payload = (
        json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        if body is not None
        else request.get_data(as_text=True)
    )
    return hashlib.sha256(f"{request.method} {request.path}\n{payload}".encode()).hexdigest()


_STORE = insert(IdempotencyRecord.__table__)


@functools.cache
def _stored_statement() -> Any:
    """Built once, on first use (when every model is mapped)."""
    return select(IdempotencyRecord).where(
        IdempotencyRecord.user_id == bindparam("user_id"), IdempotencyRecord.key == bindparam("key")
    )


def _stored(*, session: Session, user_id: int, key: str) -> IdempotencyRecord | None:
    return session.scalar(_stored_statement(), {"user_id": user_id, "key": key})


def _replay(record: IdempotencyRecord, fingerprint: str) -> tuple[int, Any, bool]:
    if record.request_hash != fingerprint:
        raise KeyReused()
    return record.status_code, record.response_body, True


def perform_once(
    *,
    session: Session,
    user_id: int,
    key: str | None,
    fingerprint: str,
    perform: Callable[[], tuple[int, Any]],
) -> tuple[int, Any, bool]:
    """Run `perform` (which flushes, never commits) at most once per (user, key) and commit.

    Returns (status, body, replayed). Domain errors raised by `perform` propagate uncommitted.
    """
    if key is None:
        status, body = perform()
        session.commit()
        return status, body, False
    record = _stored(session=session, user_id=user_id, key=key)
    if record is not None:
        return _replay(record, fingerprint)
    status, body = perform()
    if not 200 <= status < 300:
        session.commit()
        return status, body, False
    try:
        # A plain INSERT: the unit of work would cost more than the statement.
        session.connection().execute(
            _STORE,
            {
                "user_id": user_id,
                "key": key,
                "request_hash": fingerprint,
                "status_code": status,
                "response_body": body,
                "created_at": clock.now(),
            },
        )
        session.commit()
    except IntegrityError:
        # Another copy of this request committed first: undo ours, answer with theirs.
        session.rollback()
        record = _stored(session=session, user_id=user_id, key=key)
        if record is None:
            raise
        return _replay(record, fingerprint)
    return status, body, False


def respond_once(*, session: Session, user: Any, perform: Callable[[], tuple[int, Any]]) -> Response:
    """perform_once for the current request, answered as JSON."""
    status, body, replayed = perform_once(
        session=session, user_id=user.id, key=request_key(), fingerprint=request_fingerprint(), perform=perform
    )
    response = jsonify(body)
    response.status_code = status
    if replayed:
        response.headers[REPLAYED_HEADER] = "true"
    return response
