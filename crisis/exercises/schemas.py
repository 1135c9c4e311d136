from __future__ import annotations

import marshmallow as ma

from crisis.http import row_id


class ExerciseIn(ma.Schema):
    scenario = ma.fields.String(required=True, validate=ma.validate.Length(max=64))
    unit_id = row_id(required=True)
    other_unit_ids = ma.fields.List(row_id(), load_default=list, validate=ma.validate.Length(max=50))
    commander_id = row_id(load_default=None, allow_none=True)
    language = ma.fields.String(load_default="id", validate=ma.validate.OneOf(("id", "en")))


class RatingIn(ma.Schema):
    rating = ma.fields.String(required=True)
    note = ma.fields.String(load_default="")


class EvaluationIn(ma.Schema):
    ratings = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Nested(RatingIn), required=True)


class InjectOut(ma.Schema):
    at = ma.fields.String()
    text = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String())
    notify = ma.fields.List(ma.fields.Raw())


class ExerciseOut(ma.Schema):
    id = ma.fields.Integer()
    incident_id = ma.fields.Function(lambda e: e.incident.id if e.incident else None)
    incident_reference = ma.fields.Function(lambda e: e.incident.reference if e.incident else None)
    scenario = ma.fields.String(attribute="scenario_key")
    scenario_version = ma.fields.Function(lambda e: e.scenario_version.number)
    playbook = ma.fields.String(attribute="playbook_key")
    unit_id = ma.fields.Integer()
    unit_ids = ma.fields.List(ma.fields.Integer())
    started_at = ma.fields.AwareDateTime()
    ended_at = ma.fields.AwareDateTime(allow_none=True)
    objectives = ma.fields.List(ma.fields.Dict())
    injects = ma.fields.List(ma.fields.Nested(InjectOut))
    ratings = ma.fields.Dict()
