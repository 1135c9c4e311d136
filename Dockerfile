# One image for every process: web (gunicorn), worker (celery), scheduler, and the migrate job.
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN pip install --no-cache-dir build && python -m build --wheel --outdir /dist

FROM python:3.11-slim-bookworm
# Pango (and a font) for WeasyPrint's PDF reports.
RUN apt-get update && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 \
    libharfbuzz-subset0 fonts-dejavu-core && rm -rf /var/lib/apt/lists/*
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 CRISIS_INSTANCE_PATH=/var/lib/crisis
# gunicorn's workers (it reads WEB_CONCURRENCY): CPUs + 1 is right for the 2-CPU hosts measured in
# benchmarks/load (3 × 2 threads served the most; 5 workers spent 30 % more CPU per request).
ENV WEB_CONCURRENCY=3
RUN useradd --system --home /var/lib/crisis --create-home crisis
COPY --from=build /dist/*.whl /tmp/
RUN pip install --no-cache-dir /tmp/*.whl && rm /tmp/*.whl
USER crisis
EXPOSE 8000
# crisis/serving.py is gunicorn's configuration: gthread workers of 2 threads that answer gunicorn's own
# refusals (request line or headers over its limits, not HTTP) as problem+json, like the app's.
CMD ["gunicorn", "-c", "python:crisis.serving", "--bind", "0.0.0.0:8000", "crisis.wsgi:app"]
