"""Analytics storage: the event log and the statistics the write-behind recorder keeps.

Counters are never written per note: ``analytics.stats`` adds them up in memory and flushes
them with atomic increments, so several server processes add up correctly. Room statistics
keep the room's id and name rather than a foreign key: they outlive the room.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Event(models.Model):
    """Something that happened once: a login, a room created, a member joining..."""

    class Kind(models.TextChoices):
        LOGIN = "login", "Login"
        LOGOUT = "logout", "Logout"
        REGISTRATION = "registration", "Registration"
        ROOM_CREATED = "room_created", "Room created"
        ROOM_DELETED = "room_deleted", "Room deleted"
        JOIN = "join", "Join"
        LEAVE = "leave", "Leave"
        MODERATION = "moderation", "Moderation"

    kind = models.CharField(max_length=32, choices=Kind.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="analytics_events",
    )
    guest_id = models.CharField(max_length=64, blank=True)
    room_id = models.UUIDField(null=True, blank=True)
    room_name = models.CharField(max_length=64, blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["kind", "-created_at"])]

    def __str__(self) -> str:
        who = self.user_id or self.guest_id or "-"
        return f"{self.get_kind_display()} by {who} at {self.created_at:%Y-%m-%d %H:%M:%S}"


class UserStats(models.Model):
    """A registered player's running totals."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="stats",
    )
    notes_played = models.BigIntegerField(default=0)
    chat_messages = models.BigIntegerField(default=0)
    seconds_in_rooms = models.BigIntegerField(default=0)
    rooms_joined = models.BigIntegerField(default=0)
    sessions = models.BigIntegerField(default=0)
    last_seen = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "user statistics"
        # The leaderboards sort on these.
        indexes = [
            models.Index(fields=["-notes_played"]),
            models.Index(fields=["-chat_messages"]),
            models.Index(fields=["-seconds_in_rooms"]),
        ]

    def __str__(self) -> str:
        return f"statistics of user {self.user_id}"


class RoomStats(models.Model):
    """A room's running totals, kept after the room is deleted."""

    room_id = models.UUIDField(primary_key=True)
    room_name = models.CharField(max_length=64)
    peak_members = models.PositiveIntegerField(default=0)
    notes = models.BigIntegerField(default=0)
    messages = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "room statistics"

    def __str__(self) -> str:
        return f"statistics of room {self.room_name}"


class DailyActivity(models.Model):
    """One day's activity of one user, or of the whole site (``user`` empty).

    A user's last 30 days is one range scan of the (user, date) index; the site's day is
    one row of the (date) index restricted to site rows.
    """

    date = models.DateField()
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="daily_activity",
    )
    notes = models.BigIntegerField(default=0)
    messages = models.BigIntegerField(default=0)
    seconds = models.BigIntegerField(default=0)
    joins = models.BigIntegerField(default=0)

    class Meta:
        verbose_name_plural = "daily activity"
        ordering = ["-date"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "date"],
                condition=models.Q(user__isnull=False),
                name="daily_activity_unique_user_day",
            ),
            models.UniqueConstraint(
                fields=["date"],
                condition=models.Q(user__isnull=True),
                name="daily_activity_unique_site_day",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.date} {'user ' + str(self.user_id) if self.user_id else 'site'}"
