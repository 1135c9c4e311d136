"""Scheduled work of the evaluation.

- `refresh_measures(session, now)`: the scheduler's minute job. Recomputes the precomputed
  measures (IncidentMeasure, KeyMessageLag) of incidents whose timeline moved or whose review or
  action items fell due since, and commits. Idempotent and safe with two schedulers; cheap when
  nothing changed. The dashboard also refreshes before it reads, so this only keeps that cheap.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from crisis import clock
from crisis.reports import service as reports


def refresh_measures(session: Session, now: datetime | None = None, limit: int | None = None) -> int:
    """Refresh the dirty incidents' measures and commit. Returns how many incidents were refreshed."""
    refreshed = reports.refresh_measures(session=session, now=now or clock.now(), limit=limit)
    session.commit()
    return refreshed
