"""``?ticket=pst_…``: the stream's third way to authenticate, for an ``EventSource`` (which cannot
send headers). The ticket is redeemed once (``events.tickets``) and the request acts as whoever it
was issued to: the user, or the API key (``request.auth``, whose scopes are checked as usual)."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication

from accounts import selectors as account_selectors
from apikeys import selectors as apikey_selectors
from events import tickets
from pylon.api.authentication import StreamTicketNotValid

TICKET_PARAMETER = "ticket"


class StreamTicket:
    """``request.auth`` of a person's ticketed request (an API key's is the key itself)."""

    is_api_key = False


class StreamTicketAuthentication(BaseAuthentication):
    def authenticate(self, request):
        ticket = request.query_params.get(TICKET_PARAMETER)
        if ticket is None:
            return None  # the Authorization header's turn
        holder = tickets.ticket_redeem(ticket=ticket)
        if holder is None:
            raise StreamTicketNotValid()
        if holder.api_key_id is not None:
            key = apikey_selectors.api_key_usable(key_id=holder.api_key_id)
            if key is None:
                raise StreamTicketNotValid()
            return key.principal, key
        user = account_selectors.user_active(user_id=holder.user_id)
        if user is None:
            raise StreamTicketNotValid()
        return user, StreamTicket()

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


class StreamTicketScheme(OpenApiAuthenticationExtension):
    """The schema's ``streamTicket`` security scheme (only the stream offers it)."""

    target_class = StreamTicketAuthentication
    name = "streamTicket"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "query",
            "name": TICKET_PARAMETER,
            "description": (
                "A stream ticket (`pst_…`) from `POST /api/v1/events/stream-tickets/`: for an `EventSource`, which "
                "cannot send an `Authorization` header. Valid for `STREAM_TICKET_TTL_SECONDS` (30 s) and for "
                "one connection; it acts as the caller (or API key) it was issued to."
            ),
        }
