#!/usr/bin/env bash
# Runs the Dockerfile's steps outside Docker: collect static with the manifest storage, start the
# entrypoint (migrate + gunicorn) with production settings, and probe it like the HEALTHCHECK does.
set -euo pipefail
BIN=${BIN:-.venv/bin}
work=$(mktemp -d)
port=$(( 20000 + RANDOM % 20000 ))
export PATH="$PWD/$BIN:$PATH" PYTHON="$BIN/python"
export DEBUG=false SECRET_KEY=smoke-secret-key-$RANDOM$RANDOM-long-enough-for-django-checks
export JWT_SIGNING_KEY=smoke-jwt-signing-key-$RANDOM$RANDOM-long-enough
export DATABASE_URL="sqlite:///$work/db.sqlite3" STATIC_ROOT_OVERRIDE="$work/static"
export STATICFILES_BACKEND=whitenoise.storage.CompressedManifestStaticFilesStorage WHITENOISE_USE_FINDERS=false
export ALLOWED_HOSTS=127.0.0.1 PORT=$port GUNICORN_WORKERS=2
export LOG_FORMAT=json PROMETHEUS_MULTIPROC_DIR="$work/metrics"
mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
./docker/build-static.sh
./docker/entrypoint.sh >"$work/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 50); do
  python docker/healthcheck.py && break
  sleep 0.2
done
python docker/healthcheck.py || { cat "$work/server.log"; echo "smoke: /livez never answered"; exit 1; }
python docker/healthcheck.py /healthz || { cat "$work/server.log"; echo "smoke: /healthz is not 200"; exit 1; }
docs=$(curl -fsS "http://127.0.0.1:$port/api/docs/")
asset=$(grep -o '/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle[^"]*\.js' <<<"$docs" | head -1)
[ -n "$asset" ] || { echo "smoke: docs page names no sidecar asset"; exit 1; }
curl -fsS -o /dev/null "http://127.0.0.1:$port$asset"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/api/v1/zones/")
[ "$code" = 401 ] || { echo "smoke: anonymous /api/v1/zones/ answered $code"; exit 1; }
# /metrics sums the gunicorn workers' samples (multiprocess mode): the request above is counted.
# Read a few times: under load the worker that served it may still be finishing its write.
counted=
for _ in $(seq 1 15); do
  curl -fsS "http://127.0.0.1:$port/metrics" >"$work/metrics.txt" || true
  grep -q 'pylon_http_requests_total{method="GET",route="/api/v1/zones/",status="401"}' "$work/metrics.txt" \
    && counted=1 && break
  sleep 0.2
done
[ -n "$counted" ] || {
  grep pylon_http_requests_total "$work/metrics.txt" | head -20
  echo "smoke: /metrics does not count the requests of the gunicorn workers"
  exit 1
}
# Production logs are JSON lines, one per request, with its id.
grep -q '"logger": "pylon.request".*"request_id": "smoke-req-1"' "$work/server.log" || {
  curl -fsS -o /dev/null -H 'X-Request-ID: smoke-req-1' "http://127.0.0.1:$port/healthz"; sleep 0.5
  grep -q '"logger": "pylon.request".*"request_id": "smoke-req-1"' "$work/server.log"
} || { tail -5 "$work/server.log"; echo "smoke: no JSON request line with the request id"; exit 1; }
# The live event stream under gunicorn's uvicorn workers: a ticket, then text/event-stream that opens
# with its retry hint and stays open (curl gives up after 2 s: the stream never ends by itself).
api="http://127.0.0.1:$port/api/v1"
login='{"email": "smoke-'$RANDOM'@example.com", "password": "smoke-Pass-'$RANDOM'-long"}'
curl -fsS -o /dev/null -X POST -H 'Content-Type: application/json' -d "$login" "$api/auth/register/"
access=$(curl -fsS -X POST -H 'Content-Type: application/json' -d "$login" "$api/auth/token/" | python -c 'import json,sys; print(json.load(sys.stdin)["access"])')
stream_url=$(curl -fsS -X POST -H "Authorization: Bearer $access" "$api/events/stream-tickets/" \
  | python -c 'import json,sys; print(json.load(sys.stdin)["stream_url"])')
stream=$(curl -s -N --max-time 2 -D - "http://127.0.0.1:$port$stream_url" || true)
grep -qi '^content-type: text/event-stream' <<<"$stream" && grep -q '^retry: ' <<<"$stream" \
  || { echo "$stream" | head -20; echo "smoke: the event stream did not open"; exit 1; }
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port$stream_url")
[ "$code" = 401 ] || { echo "smoke: a used stream ticket answered $code"; exit 1; }
echo "smoke: image steps OK (static collected, gunicorn up, /livez and /healthz 200, docs and $asset served, the event stream opens)"
