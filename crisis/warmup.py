"""Start-up work for long-lived processes (web servers, workers, the scheduler)."""

from __future__ import annotations

import gc
import logging

from flask import Flask

log = logging.getLogger(__name__)

# The youngest generation is collected after this many allocations net of frees (CPython's
# default is 700). A request allocates thousands of short-lived objects that reference counting
# frees anyway; at 700 a busy request paid for 2-3 young collections and every tenth of those
# walked the middle generation too.
YOUNG_THRESHOLD = 10_000


def freeze_after_start(app: Flask, *, templates: bool = False) -> None:
    """Configure the mappers (and with `templates`, compile every template), then move every object
    alive now into the collector's permanent generation. They live as long as the process; a full
    collection no longer walks them, which took ~100-170 ms every few requests or tasks. Then
    collect the young generation less often (YOUNG_THRESHOLD).

    Call once per process, after forking and after the app is built. Not for tests, which build
    many apps in one process: what a frozen object refers to is never collected."""
    from sqlalchemy.orm import configure_mappers

    try:
        configure_mappers()
        if templates:
            for name in app.jinja_env.list_templates(extensions=["html", "txt"]):
                app.jinja_env.get_template(name)
    except Exception:  # noqa: BLE001  a broken template fails its own request, not the start-up
        log.warning("warm-up before the freeze failed; continuing", exc_info=True)
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
