"""Evaluation API schemas: the dashboard, KPI targets and monthly reports. Domain checks stay in
the services, which name every field at fault."""

from __future__ import annotations

import marshmallow as ma

from crisis.http import bounded_int, row_id
from crisis.reports.measures import MEASURE_LABELS


class EvaluationOut(ma.Schema):
    from_ = ma.fields.String(data_key="from", attribute="from", metadata={"format": "date"})
    to = ma.fields.String(metadata={"format": "date"})
    zone = ma.fields.String()
    tables = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.List(ma.fields.Dict(keys=ma.fields.String())),
        metadata={"description": "Each table of the dashboard as rows of named columns"},
    )


class DashboardQuery(ma.Schema):
    from_ = ma.fields.Date(data_key="from", load_default=None)
    to = ma.fields.Date(load_default=None)
    unit = row_id(load_default=None)
    playbook = ma.fields.String(load_default=None)
    severity = bounded_int(1, 4, load_default=None)
    zone = ma.fields.String(load_default=None)


class TargetIn(ma.Schema):
    measure = ma.fields.String(required=True, metadata={"enum": list(MEASURE_LABELS)})
    target_percent = ma.fields.Float(required=True, metadata={"minimum": 0, "exclusiveMinimum": True, "maximum": 100})
    threshold_minutes = bounded_int(load_default=None, allow_none=True)
    comparison = ma.fields.String(load_default="<=", metadata={"enum": ["<=", ">="]})


class TargetOut(ma.Schema):
    id = ma.fields.Integer()
    unit_id = ma.fields.Integer()
    unit_code = ma.fields.Function(lambda t: t.unit.code)
    measure = ma.fields.String()
    threshold_seconds = ma.fields.Integer(allow_none=True)
    comparison = ma.fields.String()
    target_share = ma.fields.Float()
    updated_at = ma.fields.AwareDateTime()


class MonthIn(ma.Schema):
    month = ma.fields.String(required=True, validate=ma.validate.Regexp(r"^\d{4}-\d{2}$"))


class ReportOut(ma.Schema):
    id = ma.fields.Integer()
    unit_id = ma.fields.Integer()
    unit_code = ma.fields.Function(lambda r: r.unit.code)
    month = ma.fields.Function(lambda r: r.month.strftime("%Y-%m"))
    status = ma.fields.String()
    requested_at = ma.fields.AwareDateTime()
    built_at = ma.fields.AwareDateTime(allow_none=True)
    sent_at = ma.fields.AwareDateTime(allow_none=True)
    recipients = ma.fields.List(ma.fields.String())
    pdf_size = ma.fields.Integer()
    error = ma.fields.String()
