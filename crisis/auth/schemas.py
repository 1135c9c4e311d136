from __future__ import annotations

import marshmallow as ma

from crisis.http import row_id

ROLES = ["officer", "supervisor", "head", "admin", "observer", "legal", "leader"]


class MembershipOut(ma.Schema):
    id = ma.fields.Integer()
    unit_id = ma.fields.Integer()
    unit_code = ma.fields.Function(lambda m: m.unit.code)
    role = ma.fields.String()


class UserOut(ma.Schema):
    id = ma.fields.Integer()
    email = ma.fields.String()
    name = ma.fields.String()
    language = ma.fields.String()
    active = ma.fields.Boolean()
    memberships = ma.fields.List(ma.fields.Nested(MembershipOut))


class UserIn(ma.Schema):
    email = ma.fields.String(required=True, validate=ma.validate.Length(max=254))
    name = ma.fields.String(required=True, validate=ma.validate.Length(max=200))
    password = ma.fields.String(required=True, load_only=True, validate=ma.validate.Length(max=256))
    language = ma.fields.String(load_default="id", validate=ma.validate.OneOf(["id", "en"]))
    unit_id = row_id(load_default=None, allow_none=True)
    role = ma.fields.String(load_default=None, allow_none=True, validate=ma.validate.OneOf(ROLES))


class UserPatch(ma.Schema):
    email = ma.fields.String(validate=ma.validate.Length(max=254))
    name = ma.fields.String(validate=ma.validate.Length(max=200))
    language = ma.fields.String(validate=ma.validate.OneOf(["id", "en"]))
    active = ma.fields.Boolean()


class MembershipIn(ma.Schema):
    unit_id = row_id(required=True)
    role = ma.fields.String(required=True, validate=ma.validate.OneOf(ROLES))


class MembershipPatch(ma.Schema):
    role = ma.fields.String(required=True, validate=ma.validate.OneOf(ROLES))


class TokenIn(ma.Schema):
    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=100))


class TokenOut(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    prefix = ma.fields.String()
    created_at = ma.fields.AwareDateTime()
    last_used_at = ma.fields.AwareDateTime(allow_none=True)
    revoked_at = ma.fields.AwareDateTime(allow_none=True)


class TokenCreated(TokenOut):
    token = ma.fields.String(metadata={"description": "Shown once; only its hash is stored."})


class ShiftIn(ma.Schema):
    unit_id = row_id(required=True)
    user_id = row_id(required=True)
    starts_at = ma.fields.AwareDateTime(required=True)
    ends_at = ma.fields.AwareDateTime(required=True)
    note = ma.fields.String(load_default="", validate=ma.validate.Length(max=200))


class ShiftOut(ma.Schema):
    id = ma.fields.Integer()
    unit_id = ma.fields.Integer()
    user_id = ma.fields.Integer()
    user_name = ma.fields.Function(lambda s: s.user.name)
    starts_at = ma.fields.AwareDateTime()
    ends_at = ma.fields.AwareDateTime()
    note = ma.fields.String()


class ShiftQuery(ma.Schema):
    unit_id = row_id(required=True)
    start = ma.fields.AwareDateTime(load_default=None)
    end = ma.fields.AwareDateTime(load_default=None)
