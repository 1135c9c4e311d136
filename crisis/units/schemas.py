from __future__ import annotations

import marshmallow as ma

from crisis.http import row_id
from crisis.timefmt import zone_label


class UnitOut(ma.Schema):
    id = ma.fields.Integer()
    code = ma.fields.String()
    name = ma.fields.String()
    kind = ma.fields.String()
    parent_id = row_id(allow_none=True)
    timezone = ma.fields.String()
    zone = ma.fields.Function(lambda unit: zone_label(unit.timezone), metadata={"description": "WIB, WITA or WIT"})


class UnitIn(ma.Schema):
    code = ma.fields.String(required=True, validate=ma.validate.Length(max=32))
    name = ma.fields.String(required=True, validate=ma.validate.Length(max=200))
    kind = ma.fields.String(required=True, validate=ma.validate.OneOf(["central", "province", "regency"]))
    parent_id = row_id(allow_none=True, load_default=None)
    timezone = ma.fields.String(load_default="Asia/Jakarta", validate=ma.validate.Length(max=64))


class UnitPatch(ma.Schema):
    code = ma.fields.String(validate=ma.validate.Length(max=32))
    name = ma.fields.String(validate=ma.validate.Length(max=200))
    kind = ma.fields.String(validate=ma.validate.OneOf(["central", "province", "regency"]))
    parent_id = row_id(allow_none=True)
    timezone = ma.fields.String(validate=ma.validate.Length(max=64))
