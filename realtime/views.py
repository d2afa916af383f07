from __future__ import annotations

from typing import cast

from drf_spectacular.utils import extend_schema
from rest_framework import permissions, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from observability.throttles import ScopedRateThrottle, UserRateThrottle
from realtime import tickets
from realtime.serializers import TicketSerializer
from users import tokens as user_tokens
from users.models import User


class TicketView(APIView):
    """Trade a JWT (or session) for a single-use WebSocket ticket."""

    permission_classes = [permissions.IsAuthenticated]
    throttle_classes = [UserRateThrottle, ScopedRateThrottle]
    throttle_scope = "tickets"

    @extend_schema(request=None, responses={201: TicketSerializer})
    def post(self, request: Request) -> Response:
        # IsAuthenticated has made sure there is an account.
        user = cast(User, request.user)
        grant = tickets.TicketGrant(
            user_id=user.pk,
            stamp=user_tokens.password_stamp(user),
            # The sign-in of the bearer token, or the browser session, the ticket came from.
            token_family=(
                # request.auth is the validated JWT (DRF's stubs think of its own Token).
                user_tokens.family_of(cast(user_tokens.Claims, request.auth))
                if request.auth is not None
                else ""
            ),
            session_key=(request.session.session_key or "") if request.auth is None else "",
        )
        ticket = tickets.issue_ticket(grant)
        body = {"ticket": ticket, "expires_in": tickets.TICKET_SECONDS}
        return Response(
            TicketSerializer(body).data,
            status=status.HTTP_201_CREATED,
            headers={"Cache-Control": "no-store"},
        )
