"""Entry point for `celery -A workers.celery_app worker`: the Flask app's Celery, with every task."""

import crisis.reports.tasks  # noqa: F401  registers the task names
import workers.tasks  # noqa: F401
from crisis import create_app

flask_app = create_app()
celery_app = flask_app.extensions["celery"]
