"""Read-only admin views of the event log and the statistics: written only by the app."""

from __future__ import annotations

from typing import Any, TypeVar

from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest

from analytics.models import DailyActivity, Event, RoomStats, UserStats

_ModelT = TypeVar("_ModelT", bound=Model)


class ReadOnlyAdmin(admin.ModelAdmin[_ModelT]):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: _ModelT | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: _ModelT | None = None) -> bool:
        return False


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin[Event]):
    list_display = ["created_at", "kind", "user", "guest_id", "room_name"]
    list_filter = ["kind"]
    list_select_related = ["user"]
    search_fields = ["user__username", "guest_id", "room_name"]
    date_hierarchy = "created_at"
    show_full_result_count = False  # counting a large event table on every page is slow


@admin.register(UserStats)
class UserStatsAdmin(ReadOnlyAdmin[UserStats]):
    list_display = [
        "user",
        "notes_played",
        "chat_messages",
        "seconds_in_rooms",
        "rooms_joined",
        "sessions",
        "last_seen",
    ]
    list_select_related = ["user"]
    search_fields = ["user__username"]
    ordering = ["-notes_played"]


@admin.register(RoomStats)
class RoomStatsAdmin(ReadOnlyAdmin[RoomStats]):
    list_display = ["room_name", "room_id", "peak_members", "notes", "messages", "updated_at"]
    search_fields = ["room_name"]
    ordering = ["-notes"]


@admin.register(DailyActivity)
class DailyActivityAdmin(ReadOnlyAdmin[DailyActivity]):
    list_display = ["date", "who", "notes", "messages", "seconds", "joins"]
    list_select_related = ["user"]
    list_filter = [("user", admin.EmptyFieldListFilter)]
    search_fields = ["user__username"]
    date_hierarchy = "date"

    @admin.display(description="user")
    def who(self, obj: DailyActivity) -> Any:
        return obj.user if obj.user_id else "(whole site)"
