"""The users admin, usable by moderators (staff in the Moderators group).

Bans and role changes go through ``users.services`` so each writes a ModerationAction.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.forms import Form
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from foundation.exceptions import DomainError
from moderation.models import ModerationAction
from users import services
from users.forms import (
    AdminLoginForm,
    AdminUserChangeForm,
    AdminUserCreationForm,
    LiftBanForm,
    SiteBanForm,
)
from users.models import User

# A banned staff member is refused at the admin login with the reason, not logged in
# and then bounced by the session check.
admin.site.login_form = AdminLoginForm

ADMIN = ModerationAction.Source.ADMIN


class BanStateFilter(admin.SimpleListFilter):
    title = "ban state"
    parameter_name = "ban"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("banned", "Banned now"), ("not_banned", "Not banned")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        banned_now = Q(banned_until__gt=timezone.now())
        if self.value() == "banned":
            return queryset.filter(banned_now)
        if self.value() == "not_banned":
            return queryset.exclude(banned_now)
        return queryset


def _actor(request: HttpRequest) -> User:
    user = request.user
    if not isinstance(user, User):  # the admin only lets signed-in staff this far
        raise PermissionDenied
    return user


@admin.register(User)
class UserAdmin(DjangoUserAdmin[User]):
    form = AdminUserChangeForm
    add_form = AdminUserCreationForm
    list_display = ("username", "display_name", "role", "banned_until", "is_active", "date_joined")
    list_filter = ("role", "is_staff", BanStateFilter, "is_active")
    search_fields = ("username", "display_name", "email")
    ordering = ("username",)
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        (
            "Profile",
            {"fields": ("display_name", "color", "status_text", "bio", "email")},
        ),
        ("Role and site ban", {"fields": ("role", "banned_until", "ban_reason")}),
        (
            "Permissions",
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    actions = ["ban_for_a_day", "ban_for_a_week", "ban_permanently", "lift_ban"]

    # --- Who may change what ---

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # Bans change only through the actions, so that every one is logged.
        readonly = ["banned_until", "ban_reason", "last_login", "date_joined"]
        if not request.user.is_superuser:
            readonly += ["role", "is_staff", "is_superuser", "groups", "user_permissions"]
        elif obj is not None and obj.pk == request.user.pk:
            readonly.append("role")  # set_role refuses changing one's own role
        return readonly

    def _may_edit(self, request: HttpRequest, obj: Any) -> bool:
        actor = request.user
        if not isinstance(actor, User):
            return False
        return obj is None or obj.pk == actor.pk or services.may_moderate(actor, obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Moderators edit members only: editing an admin (say, their password) would be a
        # way to become one.
        return super().has_change_permission(request, obj) and self._may_edit(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_delete_permission(request, obj) and self._may_edit(request, obj)

    def user_change_password(
        self, request: HttpRequest, id: str, form_url: str = ""
    ) -> HttpResponse:
        # Setting someone's password is taking over their account: superusers only.
        if not request.user.is_superuser:
            raise PermissionDenied
        return super().user_change_password(request, id, form_url)

    def save_model(self, request: HttpRequest, obj: User, form: Any, change: bool) -> None:
        if change and "role" in form.changed_data:
            obj.role = form.initial["role"]  # set_role makes (and logs) the change, below
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        # After the form's groups are saved, or they would undo set_role's group change.
        if change and "role" in form.changed_data:
            services.set_role(
                form.instance, form.cleaned_data["role"], by=_actor(request), source=ADMIN
            )

    # --- Actions ---

    @admin.action(description="Ban for 1 day", permissions=["change"])
    def ban_for_a_day(self, request: HttpRequest, queryset: QuerySet[User]) -> Any:
        return self._ban(request, queryset, "ban_for_a_day", "1d")

    @admin.action(description="Ban for 7 days", permissions=["change"])
    def ban_for_a_week(self, request: HttpRequest, queryset: QuerySet[User]) -> Any:
        return self._ban(request, queryset, "ban_for_a_week", "7d")

    @admin.action(description="Ban permanently", permissions=["change"])
    def ban_permanently(self, request: HttpRequest, queryset: QuerySet[User]) -> Any:
        return self._ban(request, queryset, "ban_permanently", "permanent")

    @admin.action(description="Lift ban", permissions=["change"])
    def lift_ban(self, request: HttpRequest, queryset: QuerySet[User]) -> Any:
        form = LiftBanForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            reason = form.cleaned_data["reason"]
            self._apply(
                request,
                queryset,
                lambda user, by: services.site_unban(user, by=by, reason=reason, source=ADMIN),
                "Lifted the ban of",
            )
            return None
        return self._confirmation(request, queryset, form, "lift_ban", "Lift the site ban of")

    def _ban(
        self, request: HttpRequest, queryset: QuerySet[User], action: str, duration: str
    ) -> TemplateResponse | None:
        if "apply" in request.POST:
            form = SiteBanForm(request.POST)
        else:
            form = SiteBanForm(initial={"duration": duration})
        if form.is_valid():
            reason, length = form.cleaned_data["reason"], form.ban_duration
            self._apply(
                request,
                queryset,
                lambda user, by: services.site_ban(
                    user, by=by, duration=length, reason=reason, source=ADMIN
                ),
                "Banned",
            )
            return None
        return self._confirmation(request, queryset, form, action, "Ban from the whole site")

    def _apply(
        self,
        request: HttpRequest,
        queryset: QuerySet[User],
        change: Callable[[User, User], object],
        done: str,
    ) -> None:
        actor = _actor(request)
        changed: list[str] = []
        for user in queryset:
            try:
                change(user, actor)
            except DomainError as exc:
                self.message_user(request, f"{user.username}: {exc.message}", messages.WARNING)
            else:
                changed.append(user.username)
        if changed:
            self.message_user(request, f"{done} {', '.join(changed)}.", messages.SUCCESS)

    def _confirmation(
        self, request: HttpRequest, queryset: QuerySet[User], form: Form, action: str, title: str
    ) -> TemplateResponse:
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "opts": self.model._meta,
            "queryset": queryset,
            "form": form,
            "action": action,
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/users/user/moderation_action.html", context)
