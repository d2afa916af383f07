from __future__ import annotations

from typing import cast

from drf_spectacular.utils import extend_schema
from rest_framework import permissions, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from realtime import tickets
from realtime.serializers import TicketSerializer


class TicketView(APIView):
    """Trade a JWT (or session) for a single-use WebSocket ticket."""

    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(request=None, responses={201: TicketSerializer})
    def post(self, request: Request) -> Response:
        # IsAuthenticated has made sure there is an account, hence a primary key.
        ticket = tickets.issue_ticket(cast(int, request.user.pk))
        body = {"ticket": ticket, "expires_in": tickets.TICKET_SECONDS}
        return Response(
            TicketSerializer(body).data,
            status=status.HTTP_201_CREATED,
            headers={"Cache-Control": "no-store"},
        )
