from __future__ import annotations

import marshmallow as ma

from crisis.http import bounded_int


class PlaybookOut(ma.Schema):
    key = ma.fields.String()
    category = ma.fields.String()
    title = ma.fields.Function(lambda p: {"id": p.title_id, "en": p.title_en})
    severities = ma.fields.List(ma.fields.Integer())
    current_version = ma.fields.Function(lambda p: p.current.number)


class VersionOut(ma.Schema):
    key = ma.fields.Function(lambda v: v.playbook.key)
    number = ma.fields.Integer()
    content_hash = ma.fields.String()
    published_at = ma.fields.AwareDateTime()
    published_by = ma.fields.Function(lambda v: v.published_by.email if v.published_by else None)


class VersionDetailOut(VersionOut):
    playbook = ma.fields.Dict(attribute="canonical", metadata={"description": "The SOP in canonical form."})
    yaml = ma.fields.Function(lambda v: v.source_yaml)


class PlaybookQuery(ma.Schema):
    category = ma.fields.String(
        validate=ma.validate.OneOf(
            [
                "service_failure",
                "hoax",
                "disaster",
                "data_leak",
                "policy_backlash",
                "official_conduct",
                "public_complaint",
                "other",
            ]
        )
    )
    severity = bounded_int(1, 4)


class YamlIn(ma.Schema):
    yaml = ma.fields.String(
        required=True,
        validate=ma.validate.Length(max=512 * 1024),
        metadata={"description": "The playbook as YAML text"},
    )
    filename = ma.fields.String(load_default="<input>", validate=ma.validate.Length(max=300))


class ProblemOut(ma.Schema):
    file = ma.fields.String()
    line = ma.fields.Integer()
    column = ma.fields.Integer()
    message = ma.fields.String()


class ValidationOut(ma.Schema):
    ok = ma.fields.Boolean()
    problems = ma.fields.List(ma.fields.Nested(ProblemOut))


class PublishOut(ma.Schema):
    created = ma.fields.Boolean(metadata={"description": "False when the content equals the current version"})
    version = ma.fields.Nested(VersionOut)
