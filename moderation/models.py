"""The audit log of moderation: one row per act, by whoever did it, from wherever.

Users and rooms both moderate (site bans and roles; kicks, bans, mutes and room changes), so
the log sits below both and knows them only by foreign key and copied names.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class ModerationAction(models.Model):
    """The audit log: who did what to whom, where, why and when. Never edited."""

    class Action(models.TextChoices):
        KICK = "KICK", "Kick"
        BAN = "BAN", "Room ban"
        UNBAN = "UNBAN", "Room unban"
        MUTE = "MUTE", "Mute"
        UNMUTE = "UNMUTE", "Unmute"
        GIVE_OWNERSHIP = "GIVE_OWNERSHIP", "Give ownership"
        UPDATE_ROOM = "UPDATE_ROOM", "Update room settings"
        CLOSE_ROOM = "CLOSE_ROOM", "Close room"
        DELETE_MESSAGE = "DELETE_MESSAGE", "Delete chat messages"
        SITE_BAN = "SITE_BAN", "Site ban"
        SITE_UNBAN = "SITE_UNBAN", "Site unban"
        SET_ROLE = "SET_ROLE", "Change role"

    class Source(models.TextChoices):
        WEBSOCKET = "WEBSOCKET", "Real-time"
        API = "API", "REST API"
        ADMIN = "ADMIN", "Admin site"

    action = models.CharField(max_length=32, choices=Action.choices)
    source = models.CharField(max_length=16, choices=Source.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="moderation_actions_taken",
    )
    actor_name = models.CharField(max_length=150)
    target_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="moderation_actions_received",
    )
    target_name = models.CharField(max_length=150, blank=True)
    # By name, not by import: rooms sit above this app.
    room = models.ForeignKey(
        "rooms.Room",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="moderation_actions",
    )
    room_name = models.CharField(max_length=64, blank=True)
    reason = models.CharField(max_length=255, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        # The table rooms created when the log was theirs: moving the model moved no data.
        db_table = "rooms_moderationaction"
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        where = f" in {self.room_name}" if self.room_name else ""
        return f"{self.actor_name} {self.get_action_display().lower()} {self.target_name}{where}"
