# The production image: gunicorn serves the app, and the same image runs the Celery worker and beat
# (docker-compose.yml overrides the command). Build: docker build -t int-meetings .
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# WeasyPrint draws the PDFs (outcome summaries, subject access bundles) with Pango from the system.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 fonts-liberation \
    && rm -rf /var/lib/apt/lists/*

# Dependencies first, so a code change does not reinstall them. The lock file carries the build
# machine's local index options (--extra-index-url file:///..., --find-links /opt/...), which do
# not exist inside the image: install from PyPI with exactly the pinned versions instead.
COPY requirements.lock .
RUN grep -v '^--' requirements.lock > /tmp/requirements.txt \
    && pip install --no-deps -r /tmp/requirements.txt \
    && pip check \
    && rm /tmp/requirements.txt

# Only what runs in production; never .venv, .data (the embedded database) or a local .env.
# A new top-level app needs a line here: tests/test_deployment.py checks that it has one.
COPY manage.py ./
COPY int_app/ int_app/
COPY caseload/ caseload/
COPY pressure/ pressure/
COPY meetings/ meetings/
COPY kpis/ kpis/
COPY templates/ templates/
COPY static/ static/

# Settings refuse to load without a secret key and a database URL; collectstatic uses neither,
# so throwaway values are enough here and are not kept in the image's environment.
RUN DJANGO_SECRET_KEY=build-only-not-secret \
    DATABASE_URL=postgresql://build@localhost/build \
    python manage.py collectstatic --no-input --verbosity 0

RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin int
# Where uploads wait for the worker (INT_IMPORT_DIR); a new named volume mounted here takes this owner.
RUN mkdir -p /var/lib/int-imports && chown int /var/lib/int-imports
USER int

EXPOSE 8000

# No HEALTHCHECK here: the worker and beat run this image too and serve no HTTP. The web
# service's check on /healthz lives in docker-compose.yml.
CMD ["gunicorn", "int_app.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3"]
