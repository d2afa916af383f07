"""Admin for moderators: rooms, bans and chat (the moderation log is ``moderation.admin``).

Every change that moderates goes through ``rooms.services`` so it is checked and recorded
as a ModerationAction with source ADMIN, exactly as over REST or a socket.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.forms import BaseInlineFormSet
from django.http import HttpRequest
from django.utils import timezone

from foundation.exceptions import DomainError
from moderation.models import ModerationAction
from rooms import services
from rooms.exceptions import BanNotFoundError, InvalidRoomSettingsError, RoomNameTakenError
from rooms.models import ChatMessage, Room, RoomBan
from rooms.room_settings import READABLE_SETTINGS
from users.models import User

ADMIN = ModerationAction.Source.ADMIN

KEEP_EXPIRY = "keep"
PERMANENT = "permanent"
BAN_DURATIONS = [
    (PERMANENT, "Permanent"),
    (str(3600), "1 hour"),
    (str(24 * 3600), "1 day"),
    (str(7 * 24 * 3600), "1 week"),
    (str(30 * 24 * 3600), "30 days"),
    (str(365 * 24 * 3600), "1 year"),
]

# Room fields a moderator may change; name and password go through the rules as well.
ROOM_SETTINGS_FIELDS = ["name", *READABLE_SETTINGS]


def _acting_user(request: HttpRequest) -> User:
    user = request.user
    if not isinstance(user, User):  # the admin only lets staff in
        raise PermissionDenied("The admin needs a logged-in user.")
    return user


# --- Bans --------------------------------------------------------------------------------


class RoomBanForm(forms.ModelForm[RoomBan]):
    """Subject, duration and reason of a ban; ``expires_at`` is computed by the service."""

    duration = forms.ChoiceField(
        choices=BAN_DURATIONS, initial=PERMANENT, help_text="Counted from now."
    )
    acting_user: User | None = None  # set per request by the admin

    class Meta:
        model = RoomBan
        fields = ["room", "user", "guest_id", "reason"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            # Editing a ban changes its reason or length, never whom it bans.
            for name in ("room", "user", "guest_id"):
                if name in self.fields:
                    self.fields[name].disabled = True
            self.fields["duration"] = forms.ChoiceField(
                choices=[(KEEP_EXPIRY, "Keep the current expiry"), *BAN_DURATIONS],
                initial=KEEP_EXPIRY,
                help_text="Counted from now.",
            )

    def ban_room(self) -> Room | None:
        if "room" in self.fields:
            return self.cleaned_data.get("room")
        # The inline's room, or the stored one when the admin shows it read-only.
        return getattr(self.instance, "room", None)

    def subject(self) -> tuple[User | None, str]:
        """Whom the ban is for, from the form or, when shown read-only, the stored ban."""
        data = self.cleaned_data
        user = data.get("user") if "user" in self.fields else self.instance.user
        guest_id = data.get("guest_id", "") if "guest_id" in self.fields else self.instance.guest_id
        return user, guest_id

    def duration_seconds(self) -> int | None:
        """The ban length to give the service; None means permanent."""
        choice = self.cleaned_data.get("duration", PERMANENT)
        if choice == KEEP_EXPIRY:
            expires_at = self.instance.expires_at
            if expires_at is None:
                return None
            return max(1, math.ceil((expires_at - timezone.now()).total_seconds()))
        return None if choice == PERMANENT else int(choice)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        room = self.ban_room()
        user, guest_id = self.subject()
        if room is None or self.errors or self.acting_user is None:
            return cleaned
        if (user is None) == (not guest_id):
            raise forms.ValidationError("Ban either a user or a guest id.")
        try:
            services.check_can_ban(self.acting_user, room, target_user=user, guest_id=guest_id)
        except DomainError as exc:
            raise forms.ValidationError(exc.message) from exc
        return cleaned


def _form_for(form_class: type[forms.ModelForm[Any]], request: HttpRequest) -> Any:
    """The admin's generated ban form, knowing who acts so it can check permissions."""
    return type(form_class.__name__, (form_class,), {"acting_user": _acting_user(request)})


def _ban_through_service(request: HttpRequest, form: RoomBanForm, room: Room) -> RoomBan:
    target_user, guest_id = form.subject()
    return services.ban_from_room(
        _acting_user(request),
        room,
        target_user=target_user,
        guest_id=guest_id,
        duration_seconds=form.duration_seconds(),
        reason=form.cleaned_data.get("reason", ""),
        source=ADMIN,
    )


def _unban_through_service(request: HttpRequest, ban: RoomBan) -> None:
    # An expired ban has nothing in force to lift; the service removes its row all the same.
    with contextlib.suppress(BanNotFoundError):
        services.unban_from_room(
            _acting_user(request),
            ban.room,
            target_user=ban.user,
            guest_id="" if ban.user_id else ban.guest_id,
            reason="Lifted in the admin.",
            source=ADMIN,
        )


class RoomBanInline(admin.TabularInline[RoomBan, Room]):
    model = RoomBan
    form = RoomBanForm
    fields = ["user", "guest_id", "duration", "reason", "expires_at", "banned_by"]
    readonly_fields = ["expires_at", "banned_by"]
    raw_id_fields = ["user"]
    extra = 0

    def get_formset(
        self, request: HttpRequest, obj: Room | None = None, **kwargs: Any
    ) -> type[BaseInlineFormSet[RoomBan, Room, Any]]:
        formset = super().get_formset(request, obj, **kwargs)
        formset.form = _form_for(formset.form, request)
        return formset


@admin.register(RoomBan)
class RoomBanAdmin(admin.ModelAdmin[RoomBan]):
    form = RoomBanForm
    list_display = ["room", "subject", "reason", "created_at", "expires_at", "banned_by"]
    list_select_related = ["room", "user", "banned_by"]
    search_fields = ["room__name", "user__username", "guest_id", "reason"]
    list_filter = ["created_at", "expires_at"]
    raw_id_fields = ["room", "user"]
    readonly_fields = ["expires_at", "banned_by", "created_at"]

    @admin.display(description="banned")
    def subject(self, ban: RoomBan) -> str:
        return ban.user.username if ban.user else f"guest {ban.guest_id}"

    def get_readonly_fields(self, request: HttpRequest, obj: RoomBan | None = None) -> Any:
        # Who is banned where is fixed; edit duration or reason, or delete the ban.
        fixed = ["room", "user", "guest_id"] if obj is not None else []
        return [*fixed, *self.readonly_fields]

    def get_form(
        self, request: HttpRequest, obj: RoomBan | None = None, change: bool = False, **kwargs: Any
    ) -> Any:
        return _form_for(super().get_form(request, obj, change=change, **kwargs), request)

    def save_model(self, request: HttpRequest, obj: RoomBan, form: Any, change: bool) -> None:
        ban = _ban_through_service(request, form, form.ban_room() or obj.room)
        # The admin logs and redirects using obj: make it the saved ban.
        obj.pk, obj.expires_at, obj.banned_by = ban.pk, ban.expires_at, ban.banned_by
        obj.created_at = ban.created_at

    def delete_model(self, request: HttpRequest, obj: RoomBan) -> None:
        _unban_through_service(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[RoomBan]) -> None:
        for ban in queryset.select_related("room", "user"):
            _unban_through_service(request, ban)


# --- Rooms ------------------------------------------------------------------------------


class RoomAdminForm(forms.ModelForm[Room]):
    new_password = forms.CharField(
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Leave empty to keep the current password.",
    )
    clear_password = forms.BooleanField(required=False, help_text="Remove the password.")

    class Meta:
        model = Room
        fields = ROOM_SETTINGS_FIELDS

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("new_password") and cleaned.get("clear_password"):
            raise forms.ValidationError("Set a new password or clear it, not both.")
        if self.errors:
            return cleaned
        # self.instance still holds the stored values here: the form copies its own later.
        try:
            services.check_room_changes(self.instance, self.settings_changes())
        except InvalidRoomSettingsError as exc:
            for key, message in exc.fields.items():
                self.add_error("new_password" if key == "password" else key, message)
        except RoomNameTakenError as exc:
            self.add_error("name", exc.message)
        return cleaned

    def settings_changes(self) -> dict[str, Any]:
        changes = {key: self.cleaned_data[key] for key in self.changed_data if key in self.fields}
        changes.pop("new_password", None)
        changes.pop("clear_password", None)
        if self.cleaned_data.get("new_password"):
            changes["password"] = self.cleaned_data["new_password"]
        elif self.cleaned_data.get("clear_password"):
            changes["password"] = ""
        return changes


@admin.action(description="Close selected rooms")
def close_rooms(modeladmin: RoomAdmin, request: HttpRequest, queryset: QuerySet[Room]) -> None:
    closed = modeladmin.close_through_service(request, queryset)
    if closed:
        modeladmin.message_user(request, f"Closed {closed} room(s).", messages.SUCCESS)


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin[Room]):
    form = RoomAdminForm
    list_display = [
        "name",
        "owner",
        "is_public",
        "password_set",
        "max_members",
        "persistent",
        "is_lobby",
        "created_at",
    ]
    list_select_related = ["owner"]
    search_fields = ["name", "owner__username"]
    list_filter = ["is_public", "is_lobby", "persistent"]
    readonly_fields = ["id", "owner", "is_lobby", "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["id", "name", "owner", "is_lobby"]}),
        ("Settings", {"fields": list(READABLE_SETTINGS)}),
        ("Password", {"fields": ["new_password", "clear_password"]}),
        (None, {"fields": ["created_at", "updated_at"]}),
    ]
    inlines = [RoomBanInline]
    actions = [close_rooms]

    @admin.display(boolean=True, description="password")
    def password_set(self, room: Room) -> bool:
        return room.has_password

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Players create rooms; the admin moderates them.
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Room | None = None) -> bool:
        if obj is not None and obj.is_lobby:
            return False
        return super().has_delete_permission(request, obj)

    def get_actions(self, request: HttpRequest) -> Any:
        actions = super().get_actions(request)
        # "Close selected rooms" replaces the stock bulk delete.
        actions.pop("delete_selected", None)
        return actions

    def close_through_service(self, request: HttpRequest, rooms: QuerySet[Room]) -> int:
        closed = 0
        for room in rooms.select_related("owner"):
            try:
                services.close_room(_acting_user(request), room, ADMIN, "Closed in the admin.")
            except DomainError as exc:
                self.message_user(request, f"{room.name}: {exc.message}", messages.ERROR)
            else:
                closed += 1
        return closed

    def save_model(self, request: HttpRequest, obj: Room, form: Any, change: bool) -> None:
        # The form has already copied its values onto obj; the service works from the
        # stored room so that it sees (and records) the real change.
        stored = Room.objects.get(pk=obj.pk)
        try:
            services.update_room(_acting_user(request), stored, form.settings_changes(), ADMIN)
        except DomainError as exc:
            self.message_user(request, exc.message, messages.ERROR)
        obj.refresh_from_db()

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        if formset.model is not RoomBan:
            super().save_formset(request, form, formset, change)
            return
        room = form.instance
        # The admin's change message reads these lists, which formset.save() would fill.
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        for ban_form in formset.forms:
            if ban_form in formset.deleted_forms:
                if ban_form.instance.pk:
                    _unban_through_service(request, ban_form.instance)
                    formset.deleted_objects.append(ban_form.instance)
                continue
            if not ban_form.has_changed():
                continue
            try:
                ban = _ban_through_service(request, ban_form, room)
            except DomainError as exc:
                self.message_user(request, exc.message, messages.ERROR)
                continue
            if ban_form.instance.pk:
                formset.changed_objects.append((ban, ban_form.changed_data))
            else:
                formset.new_objects.append(ban)

    def delete_model(self, request: HttpRequest, obj: Room) -> None:
        self.close_through_service(request, Room.objects.filter(pk=obj.pk))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Room]) -> None:
        self.close_through_service(request, queryset)


# --- Chat ----------------------------------------------------------------------------------


@admin.register(ChatMessage)
class ChatMessageAdmin(admin.ModelAdmin[ChatMessage]):
    list_display = ["room", "display_name", "text", "sent_at"]
    list_select_related = ["room"]
    search_fields = ["text", "display_name", "room__name"]
    list_filter = [("room", admin.RelatedOnlyFieldListFilter)]
    date_hierarchy = "sent_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ChatMessage | None = None) -> bool:
        return False

    def delete_model(self, request: HttpRequest, obj: ChatMessage) -> None:
        self.delete_queryset(request, ChatMessage.objects.filter(pk=obj.pk))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[ChatMessage]) -> None:
        try:
            services.delete_chat_messages(
                _acting_user(request), queryset.select_related("room"), source=ADMIN
            )
        except DomainError as exc:
            self.message_user(request, exc.message, messages.ERROR)
