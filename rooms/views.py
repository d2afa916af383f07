"""Rooms REST API: thin adapters from HTTP to ``rooms.services``.

Domain errors become ``{"code", "message"}`` in ``foundation.api``; settings that break
the rules become a 400 with ``fields`` shaped like the request body.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.exceptions import NotAuthenticated
from rest_framework.pagination import CursorPagination, PageNumberPagination
from rest_framework.permissions import IsAuthenticated, IsAuthenticatedOrReadOnly
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from foundation.api import ErrorSerializer
from moderation.models import ModerationAction
from rooms import rules, services
from rooms.exceptions import InvalidRoomSettingsError
from rooms.models import ChatMessage, Room
from rooms.serializers import (
    ChatMessageSerializer,
    RoomBanCreateSerializer,
    RoomBanSerializer,
    RoomCreateSerializer,
    RoomSerializer,
    RoomWriteSerializer,
    settings_error_fields,
)
from users.guests import GUEST_COOKIE, guest_id_from_cookie
from users.models import User

API = ModerationAction.Source.API
TAGS = ["rooms"]
ROOM_ID = OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH)


def _actor(request: Request) -> rules.Actor:
    """The signed-in user, or the guest of this browser (its guest cookie), or nobody."""
    if not request.user.is_authenticated:
        guest_id = guest_id_from_cookie(request.COOKIES.get(GUEST_COOKIE))
        if guest_id is not None:
            return services.guest_actor(guest_id)
    return services.actor_for_user(request.user)


def _user(request: Request) -> User:
    if not isinstance(request.user, User):
        raise NotAuthenticated()
    return request.user


def _rule_errors(exc: InvalidRoomSettingsError) -> serializers.ValidationError:
    return serializers.ValidationError(settings_error_fields(exc.fields))


class RoomPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 100


class RoomListView(generics.ListAPIView[Room]):
    permission_classes = [IsAuthenticatedOrReadOnly]
    serializer_class = RoomSerializer
    pagination_class = RoomPagination
    queryset = Room.objects.none()

    def get_queryset(self) -> QuerySet[Room]:
        search = self.request.query_params.get("search", "").strip()
        if len(search) > rules.NAME_MAX_LENGTH:
            raise serializers.ValidationError(
                {"search": [f"At most {rules.NAME_MAX_LENGTH} characters."]}
            )
        return services.listed_rooms(search)

    @extend_schema(
        tags=TAGS,
        summary="Public rooms and the lobbies, lobbies first, then by name (paginated)",
        parameters=[
            OpenApiParameter(
                "search", OpenApiTypes.STR, description="Only rooms whose name contains this."
            )
        ],
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        rooms = list(page) if page is not None else []
        context = {**self.get_serializer_context(), "member_counts": services.member_counts(rooms)}
        return self.get_paginated_response(RoomSerializer(rooms, many=True, context=context).data)

    @extend_schema(
        tags=TAGS,
        summary="Create a room you own",
        request=RoomCreateSerializer,
        responses={201: RoomSerializer, 400: ErrorSerializer, 409: ErrorSerializer},
    )
    def post(self, request: Request) -> Response:
        body = RoomCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            room = services.create_room(_user(request), body.changes())
        except InvalidRoomSettingsError as exc:
            raise _rule_errors(exc) from exc
        created = RoomSerializer(room, context={"insider": True}).data
        return Response(created, status=status.HTTP_201_CREATED)


class RoomDetailView(APIView):
    permission_classes = [IsAuthenticatedOrReadOnly]

    @extend_schema(
        tags=TAGS,
        summary="A room (private rooms: owner and moderators only)",
        parameters=[ROOM_ID],
        responses={200: RoomSerializer, 404: ErrorSerializer},
    )
    def get(self, request: Request, id: UUID) -> Response:
        actor = _actor(request)
        room = services.get_visible_room(actor, id)
        insider = services.can_read_history(actor, room)
        return Response(RoomSerializer(room, context={"insider": insider}).data)

    @extend_schema(
        tags=TAGS,
        summary="Change a room's name or settings (owner or moderator)",
        parameters=[ROOM_ID],
        request=RoomWriteSerializer,
        responses={
            200: RoomSerializer,
            400: ErrorSerializer,
            403: ErrorSerializer,
            404: ErrorSerializer,
            409: ErrorSerializer,
        },
    )
    def patch(self, request: Request, id: UUID) -> Response:
        room = services.get_visible_room(_actor(request), id)
        body = RoomWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            room = services.update_room(_user(request), room, body.changes(), API)
        except InvalidRoomSettingsError as exc:
            raise _rule_errors(exc) from exc
        return Response(RoomSerializer(room, context={"insider": True}).data)

    @extend_schema(
        tags=TAGS,
        summary="Close (delete) a room (owner or moderator; never a lobby)",
        parameters=[ROOM_ID],
        request=None,
        responses={204: None, 403: ErrorSerializer, 404: ErrorSerializer},
    )
    def delete(self, request: Request, id: UUID) -> Response:
        room = services.get_visible_room(_actor(request), id)
        services.close_room(_user(request), room, API)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ChatHistoryPagination(CursorPagination):
    ordering = "-id"
    page_size = 50


class RoomMessagesView(generics.ListAPIView[ChatMessage]):
    """Chat history of a room, newest first."""

    permission_classes = [IsAuthenticatedOrReadOnly]
    serializer_class = ChatMessageSerializer
    pagination_class = ChatHistoryPagination
    queryset = ChatMessage.objects.none()

    def get_queryset(self) -> QuerySet[ChatMessage]:
        if getattr(self, "swagger_fake_view", False):
            return ChatMessage.objects.none()
        room = services.get_room_with_history(_actor(self.request), self.kwargs["id"])
        return room.messages.select_related("user").order_by("-id")

    @extend_schema(
        tags=TAGS,
        summary="Chat history, newest first (cursor-paginated)",
        description="A password room's history is for its members (in the room now), its "
        "owner and moderators; others get 404, as for a private room.",
        parameters=[ROOM_ID],
        responses={200: ChatMessageSerializer(many=True), 404: ErrorSerializer},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class RoomBansView(APIView):
    permission_classes = [IsAuthenticated]

    def _room(self, request: Request, room_id: UUID) -> Room:
        room = services.get_visible_room(_actor(request), room_id)
        services.check_can_moderate_room(_user(request), room)
        return room

    @extend_schema(
        tags=TAGS,
        summary="Bans in force in a room (owner or moderator)",
        parameters=[ROOM_ID],
        responses={200: RoomBanSerializer(many=True), 403: ErrorSerializer, 404: ErrorSerializer},
    )
    def get(self, request: Request, id: UUID) -> Response:
        room = self._room(request, id)
        return Response(RoomBanSerializer(services.active_bans(room), many=True).data)

    @extend_schema(
        tags=TAGS,
        summary="Ban a player or guest from a room (owner or moderator)",
        parameters=[ROOM_ID],
        request=RoomBanCreateSerializer,
        responses={
            201: RoomBanSerializer,
            400: ErrorSerializer,
            403: ErrorSerializer,
            404: ErrorSerializer,
        },
    )
    def post(self, request: Request, id: UUID) -> Response:
        room = self._room(request, id)
        body = RoomBanCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        ban = services.ban_from_room(
            _user(request),
            room,
            target_user=data.get("username"),
            guest_id=data.get("guest_id", ""),
            duration_seconds=data.get("duration_seconds"),
            reason=data.get("reason", ""),
            source=API,
        )
        return Response(RoomBanSerializer(ban).data, status=status.HTTP_201_CREATED)


class RoomBanDetailView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=TAGS,
        summary="Lift a ban (owner or moderator)",
        description="`subject` is a username, or `guest:<guest id>` for a guest.",
        parameters=[
            ROOM_ID,
            OpenApiParameter("subject", OpenApiTypes.STR, OpenApiParameter.PATH),
        ],
        request=None,
        responses={204: None, 403: ErrorSerializer, 404: ErrorSerializer},
    )
    def delete(self, request: Request, id: UUID, subject: str) -> Response:
        room = services.get_visible_room(_actor(request), id)
        services.check_can_moderate_room(_user(request), room)
        target_user, guest_id = services.resolve_ban_subject(subject)
        services.unban_from_room(
            _user(request), room, target_user=target_user, guest_id=guest_id, source=API
        )
        return Response(status=status.HTTP_204_NO_CONTENT)
