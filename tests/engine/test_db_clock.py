"""One clock: on PostgreSQL the database's time decides due-ness, whatever this host believes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crisis.escalation import firing
from tests.factories import open_incident

pytestmark = pytest.mark.real_clock


def test_on_postgresql_the_database_clock_decides_what_is_due(db, org):
    now = datetime.now(UTC)
    open_incident(db.session, org, now=now, started_at=now - timedelta(minutes=16))
    db.session.commit()
    claimed = firing.claim_due(session=db.session, lease=1)
    db.session.commit()
    assert len(claimed) == 1
    assert firing.sweep_notices(session=db.session) == []
    assert firing.seconds_until_next(session=db.session) > 0
