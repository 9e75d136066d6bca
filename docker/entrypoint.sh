#!/usr/bin/env bash
# Production start: apply migrations (unless told not to), then serve with gunicorn.
set -euo pipefail
if [ "${MIGRATE_ON_START:-true}" = "true" ]; then
  python manage.py migrate --noinput
fi
exec gunicorn pylon.wsgi:application \
  --bind "0.0.0.0:${PORT:-8000}" \
  --workers "${GUNICORN_WORKERS:-3}" \
  --timeout "${GUNICORN_TIMEOUT:-30}" \
  --limit-request-line 8190 \
  --access-logfile - --error-logfile -
