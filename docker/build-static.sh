#!/usr/bin/env bash
# Collect static files with the production (manifest) storage. The Dockerfile and CI both run it.
set -euo pipefail
PYTHON=${PYTHON:-python}
DEBUG=false SECRET_KEY=${SECRET_KEY:-build-only-not-used-at-runtime} \
STATICFILES_BACKEND=whitenoise.storage.CompressedManifestStaticFilesStorage \
  "$PYTHON" manage.py collectstatic --noinput --verbosity 0
