"""The migrations are the schema: they must match the models exactly."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from crisis.extensions import db as _db


def test_models_and_migrations_do_not_differ(db):
    with _db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        differences = compare_metadata(context, _db.metadata)
    assert differences == []


def test_timeline_is_append_only(db, org):
    import pytest

    from crisis.timeline import service as timeline

    event = timeline.record(session=db.session, kind="test.happened", subject_type="unit", subject_id=1)
    db.session.commit()
    event.kind = "test.rewritten"
    with pytest.raises(RuntimeError, match="append-only"):
        db.session.commit()
    db.session.rollback()
