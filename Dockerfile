# Production image for the Pylon API. CI runs the same build and start steps without Docker
# (docker/smoke.sh, part of `make test`), since this machine kind has no Docker engine.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DEBUG=false \
    LOG_FORMAT=json \
    PORT=8000 \
    STATICFILES_BACKEND=whitenoise.storage.CompressedManifestStaticFilesStorage \
    WHITENOISE_USE_FINDERS=false

RUN groupadd --system pylon && useradd --system --gid pylon --home-dir /app --shell /usr/sbin/nologin pylon

WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY --chown=pylon:pylon . .
RUN PYTHON=python ./docker/build-static.sh && mkdir -p var && chown -R pylon:pylon var staticfiles

USER pylon
EXPOSE 8000
# Liveness (/livez): a database or broker outage must not get healthy containers restarted; load
# balancers probe readiness at /healthz.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 CMD ["python", "docker/healthcheck.py", "/livez"]
ENTRYPOINT ["./docker/entrypoint.sh"]
