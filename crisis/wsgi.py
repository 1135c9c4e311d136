"""The WSGI entry point for production servers: `gunicorn crisis.wsgi:app`.

Besides building the app it prepares the process for a long life: every template is compiled
now rather than by the first request that needs it, and everything built at start-up (the app,
its compiled templates, SQLAlchemy's mappers and statement caches, both catalogs) is moved out
of the garbage collector's reach with `gc.freeze()`. Those objects live as long as the process;
without the freeze every full collection walks all of them again (benchmarks/evaluation/README.md).
"""

from __future__ import annotations

from crisis import create_app
from crisis.warmup import freeze_after_start

app = create_app()
freeze_after_start(app, templates=True)
