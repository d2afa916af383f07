from __future__ import annotations

import random
from collections.abc import Collection
from typing import Any

from django.contrib.auth.models import AbstractUser
from django.core.validators import RegexValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from users.rules import username_key

COLOR_VALIDATOR = RegexValidator(r"^#[0-9a-fA-F]{6}$", "Use a colour like #1a2b3c.")

# Readable on the dark keyboard and on white text alike.
PLAYER_COLORS = (
    "#e6194b", "#3cb44b", "#ffe119", "#4363d8", "#f58231", "#911eb4", "#42d4f4",
    "#f032e6", "#bfef45", "#fabed4", "#469990", "#dcbeff", "#9a6324", "#fffac8",
)  # fmt: skip


def random_player_color() -> str:
    return random.choice(PLAYER_COLORS)  # noqa: S311 - a colour, not a secret


class User(AbstractUser):
    """A registered player. Guests are not stored: they live only in their socket session."""

    class Role(models.TextChoices):
        # Values match the protocol's Role enum.
        GUEST = "GUEST", "Guest"
        MEMBER = "MEMBER", "Member"
        MODERATOR = "MODERATOR", "Moderator"
        ADMIN = "ADMIN", "Admin"

    display_name = models.CharField(max_length=32, blank=True)
    color = models.CharField(
        max_length=7, default=random_player_color, validators=[COLOR_VALIDATOR]
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    status_text = models.CharField(max_length=128, blank=True)
    bio = models.TextField(max_length=2000, blank=True)
    banned_until = models.DateTimeField(
        null=True, blank=True, help_text="Site ban: refused everywhere until this time."
    )
    ban_reason = models.CharField(max_length=255, blank=True)
    #: What the username looks like (``rules.name_skeleton``), so that no new username or
    #: display name can pass for it. Kept in step with the username on every save.
    name_key = models.CharField(max_length=150, db_index=True, editable=False, default="")

    class Meta:
        indexes = [models.Index(fields=["role"]), models.Index(fields=["banned_until"])]
        # Registration checks this first to answer nicely; the constraint settles races.
        constraints = [models.UniqueConstraint(Lower("username"), name="username_unique_ci")]

    #: Fields whose change must reach live sockets and tokens (users.receivers).
    WATCHED_FIELDS = (
        "password",
        "role",
        "is_staff",
        "is_superuser",
        "is_active",
        "username",
        "display_name",
        "color",
    )

    def __str__(self) -> str:
        return self.username

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.name_key = username_key(self.username)
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "username" in update_fields:
            kwargs["update_fields"] = {*update_fields, "name_key"}
        super().save(*args, **kwargs)

    @classmethod
    def from_db(
        cls,
        db: str | None,
        field_names: Collection[str],
        values: Collection[Any],
        **kwargs: Any,
    ) -> User:
        user = super().from_db(db, field_names, values, **kwargs)
        user.remember_saved_state()
        return user

    def remember_saved_state(self) -> None:
        """Note the watched fields as stored, to tell later what a save changed."""
        loaded = self.get_deferred_fields()
        self._saved_state = {f: getattr(self, f) for f in self.WATCHED_FIELDS if f not in loaded}

    def changed_fields(self) -> set[str]:
        """Watched fields that differ from what was loaded or last saved (all, if new)."""
        saved: dict[str, Any] | None = getattr(self, "_saved_state", None)
        if saved is None:
            return set(self.WATCHED_FIELDS)
        return {name for name, value in saved.items() if getattr(self, name) != value}

    @property
    def shown_name(self) -> str:
        return self.display_name or self.username

    @property
    def is_site_banned(self) -> bool:
        return self.banned_until is not None and self.banned_until > timezone.now()

    @property
    def is_site_moderator(self) -> bool:
        """Moderators and admins may do anything a room owner may, in every room."""
        return self.role in (self.Role.MODERATOR, self.Role.ADMIN) or self.is_superuser


class EndedSignIn(models.Model):
    """A sign-in (a refresh-token family, ``users.tokens``) that logging out ended: the access
    tokens of it are refused until they would have expired anyway. Kept in the database, not
    a cache, so that nothing a client does can make the server forget it."""

    family = models.CharField(max_length=64, primary_key=True)
    ended_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return self.family
