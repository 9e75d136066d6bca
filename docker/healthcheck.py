"""Docker HEALTHCHECK: exit 0 when the endpoint answers 200.

The container's health is liveness (``/livez``, the default): the process serves requests. An
outage of the database or the broker must not get healthy API containers restarted; load balancers
ask ``/healthz`` (readiness) for that. ``python docker/healthcheck.py /healthz`` probes readiness.
"""

import os
import sys
import urllib.request

path = sys.argv[1] if len(sys.argv) > 1 else "/livez"
url = f"http://127.0.0.1:{os.environ.get('PORT', '8000')}{path}"
try:
    with urllib.request.urlopen(url, timeout=4) as response:  # noqa: S310 (fixed local URL)
        sys.exit(0 if response.status == 200 else 1)
except Exception:
    sys.exit(1)
