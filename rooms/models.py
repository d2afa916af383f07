from __future__ import annotations

import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Lower

from rooms.room_settings import DEFAULT_MAX_MEMBERS, MAX_MEMBERS, MIN_MEMBERS
from users.models import COLOR_VALIDATOR


class Room(models.Model):
    """A room and its settings: one field for each readable setting of
    ``rooms.room_settings`` (a test checks they agree), the password as a hash."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=64)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_rooms",
    )
    is_lobby = models.BooleanField(default=False)
    max_members = models.PositiveSmallIntegerField(
        default=DEFAULT_MAX_MEMBERS,
        validators=[MinValueValidator(MIN_MEMBERS), MaxValueValidator(MAX_MEMBERS)],
    )
    is_public = models.BooleanField(default=True)
    allow_guests = models.BooleanField(default=True)
    chat_enabled = models.BooleanField(default=True)
    only_owner_can_play = models.BooleanField(default=False)
    only_owner_can_chat = models.BooleanField(default=False)
    unlimited_notes = models.BooleanField(default=False)
    welcome_message = models.CharField(max_length=500, blank=True)
    color = models.CharField(max_length=7, default="#3b4a6b", validators=[COLOR_VALIDATOR])
    persistent = models.BooleanField(default=False)
    password_hash = models.CharField(max_length=256, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(Lower("name"), name="room_name_unique_ci")]
        indexes = [models.Index(fields=["is_public", "name"])]
        ordering = ["-is_lobby", "name"]

    def __str__(self) -> str:
        return self.name

    @property
    def has_password(self) -> bool:
        return bool(self.password_hash)


class RoomBan(models.Model):
    """A user (or a guest, by guest id) refused entry to a room until ``expires_at``."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="bans")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="room_bans",
    )
    guest_id = models.CharField(max_length=64, blank=True)
    #: For a guest: the private key of the address it connected from (never the address),
    #: so that a new guest from there is refused too.
    address_key = models.CharField(max_length=64, blank=True, db_index=True)
    banned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    reason = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty: permanent.")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["room", "user"],
                condition=models.Q(user__isnull=False),
                name="room_ban_unique_user",
            ),
            models.UniqueConstraint(
                fields=["room", "guest_id"],
                condition=models.Q(user__isnull=True),
                name="room_ban_unique_guest",
            ),
            models.CheckConstraint(
                condition=models.Q(user__isnull=False) | ~models.Q(guest_id=""),
                name="room_ban_has_subject",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user or self.guest_id} in {self.room}"


class RoomMute(models.Model):
    """A user (or guest) who may neither play nor chat in a room until ``expires_at``.

    Kept in the database, like a ban, so that leaving and rejoining or opening a second
    socket does not lift it.
    """

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="mutes")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="room_mutes",
    )
    guest_id = models.CharField(max_length=64, blank=True)
    #: For a guest: the private key of its address, as for bans.
    address_key = models.CharField(max_length=64, blank=True, db_index=True)
    #: Who set it (None: a guest holding the crown, or a deleted account): only someone who
    #: does not rank below them may lift or replace it.
    muted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty: until lifted.")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["room", "user"],
                condition=models.Q(user__isnull=False),
                name="room_mute_unique_user",
            ),
            models.UniqueConstraint(
                fields=["room", "guest_id"],
                condition=models.Q(user__isnull=True),
                name="room_mute_unique_guest",
            ),
            models.CheckConstraint(
                condition=models.Q(user__isnull=False) | ~models.Q(guest_id=""),
                name="room_mute_has_subject",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user or self.guest_id} muted in {self.room}"


class ChatMessage(models.Model):
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="messages")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="chat_messages",
    )
    guest_id = models.CharField(max_length=64, blank=True)
    session_id = models.CharField(max_length=64, blank=True)
    display_name = models.CharField(max_length=64)
    text = models.CharField(max_length=500)
    sent_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["room", "-id"])]
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.display_name}: {self.text[:40]}"
