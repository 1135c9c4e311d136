"""Start-up work for long-lived processes (web servers, workers, the scheduler)."""

from __future__ import annotations

import gc
import logging

from flask import Flask

log = logging.getLogger(__name__)


def freeze_after_start(app: Flask, *, templates: bool = False) -> None:
    """Configure the mappers (and with `templates`, compile every template), then move every object
    alive now into the collector's permanent generation. They live as long as the process; a full
    collection no longer walks them, which took ~100-170 ms every few requests or tasks.

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
