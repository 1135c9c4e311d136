from __future__ import annotations

import marshmallow as ma

from crisis.audit.service import KIND_LABELS, MAX_PAGE_SIZE, PAGE_SIZE
from crisis.http import bounded_int


class AuditQuery(ma.Schema):
    kind = ma.fields.String(load_default=None, validate=ma.validate.OneOf(sorted(KIND_LABELS)))
    person = ma.fields.String(
        load_default=None,
        validate=ma.validate.Length(max=254),
        metadata={"description": "Part of the e-mail address of the person who acted (or tried to sign in)"},
    )
    from_ = ma.fields.Date(data_key="from", load_default=None, metadata={"description": "First day, in `zone`"})
    to = ma.fields.Date(load_default=None, metadata={"description": "Last day (included), in `zone`"})
    zone = ma.fields.String(
        load_default=None, metadata={"description": "IANA zone of the days; the caller's unit zone by default"}
    )
    cursor = ma.fields.String(
        load_default=None,
        validate=ma.validate.Length(max=64),
        metadata={"description": "`next_cursor` of the previous page"},
    )
    limit = bounded_int(1, MAX_PAGE_SIZE, load_default=PAGE_SIZE)


class AuditEventOut(ma.Schema):
    id = ma.fields.Integer()
    at = ma.fields.AwareDateTime()
    kind = ma.fields.String(metadata={"enum": sorted(KIND_LABELS)})
    actor_id = ma.fields.Integer(allow_none=True)
    actor_email = ma.fields.String()
    unit_id = ma.fields.Integer(allow_none=True)
    unit_code = ma.fields.Function(lambda e: e.unit.code if e.unit else None, allow_none=True)
    target = ma.fields.String()
    detail = ma.fields.Dict(keys=ma.fields.String())
    remote_addr = ma.fields.String()
    user_agent = ma.fields.String()


class AuditPageOut(ma.Schema):
    events = ma.fields.List(ma.fields.Nested(AuditEventOut))
    next_cursor = ma.fields.String(allow_none=True, metadata={"description": "Pass as `cursor` for older events"})
