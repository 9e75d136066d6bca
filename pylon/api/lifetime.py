"""A view's per-request state is freed when the server closes its response, not at Python's next
collection of reference cycles.

DRF ties each request's objects into cycles (the view holds the request and the response, the
response's renderer context holds the view and the response itself), so everything a request read —
a list page's rows with their dicts, decimals and UUIDs — outlived it until the cycle collector ran,
which then had to walk it all: on a workloads page that cost more than half a millisecond a request
(timed with ``gc.callbacks`` over requests served in process). Cutting the cycles once the response
is closed lets reference counting free them at once. By then the body is written; ``response.data``
stays.
"""

from __future__ import annotations

from functools import partial


def _release(view, response) -> None:
    response.renderer_context = None
    view.__dict__.clear()


class FreedAtClose:
    def dispatch(self, request, *args, **kwargs):
        response = super().dispatch(request, *args, **kwargs)
        # Django runs a response's closers when the server closes it (after the last byte).
        response._resource_closers.append(partial(_release, self, response))
        return response
