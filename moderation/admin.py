"""The moderation log in the admin: readable by moderators, never written there."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from moderation.models import ModerationAction


@admin.register(ModerationAction)
class ModerationActionAdmin(admin.ModelAdmin[ModerationAction]):
    """The audit log: readable by moderators, written only by the services."""

    list_display = [
        "created_at",
        "action",
        "source",
        "actor_name",
        "target_name",
        "room_name",
        "reason",
        "expires_at",
    ]
    list_filter = ["action", "source"]
    search_fields = ["actor_name", "target_name", "room_name", "reason"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(
        self, request: HttpRequest, obj: ModerationAction | None = None
    ) -> bool:
        return False

    def has_delete_permission(
        self, request: HttpRequest, obj: ModerationAction | None = None
    ) -> bool:
        return False
