#!/usr/bin/env bash
# Production start: apply migrations (unless told not to), then serve ASGI: gunicorn managing uvicorn workers.
set -euo pipefail
# Metrics of all gunicorn workers are summed from files here (prometheus-client's multiprocess mode);
# a worker or beat on this host given the same directory is summed too. Stale files would double-count.
export PROMETHEUS_MULTIPROC_DIR="${PROMETHEUS_MULTIPROC_DIR:-${TMPDIR:-/tmp}/pylon-metrics}"
rm -rf "$PROMETHEUS_MULTIPROC_DIR" && mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
if [ "${MIGRATE_ON_START:-true}" = "true" ]; then
  python manage.py migrate --noinput
fi
# No gunicorn access log: Pylon logs one line per request itself (pylon.request, with its request id).
exec gunicorn pylon.asgi:application \
  --config docker/gunicorn.conf.py \
  --worker-class uvicorn_worker.UvicornWorker \
  --bind "0.0.0.0:${PORT:-8000}" \
  --workers "${GUNICORN_WORKERS:-3}" \
  --timeout "${GUNICORN_TIMEOUT:-30}" \
  --limit-request-line 8190 \
  --error-logfile -
