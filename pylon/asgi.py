"""The ASGI application: what production (gunicorn with uvicorn workers) and ``make run`` serve.

ASGI lets the live event stream (``/api/v1/events/stream/``) hold many idle connections in one
worker without a thread each; every other view is synchronous and Django runs it in a thread, as
under WSGI. ``pylon.wsgi`` stays for tools that want WSGI.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pylon.settings")

application = get_asgi_application()
