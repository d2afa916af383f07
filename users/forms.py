"""Forms of the account pages and the users admin. Rules come from ``users.services``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import forms as auth_forms

from foundation.exceptions import DomainError
from users import services
from users.exceptions import InvalidFieldError
from users.models import User


def _checked(check: Callable[[str], str], value: str) -> str:
    try:
        return check(value)
    except InvalidFieldError as exc:
        raise forms.ValidationError(exc.messages) from exc


def _confirm_can_log_in(user: User) -> None:
    try:
        services.check_can_log_in(user)
    except DomainError as exc:
        raise forms.ValidationError(exc.message, code=exc.code.lower()) from exc


class LoginForm(auth_forms.AuthenticationForm):
    """Django's login form; a banned user is told so (and until when) once the password is right."""

    def confirm_login_allowed(self, user: User) -> None:
        super().confirm_login_allowed(user)
        _confirm_can_log_in(user)


class AdminLoginForm(AdminAuthenticationForm):
    def confirm_login_allowed(self, user: User) -> None:
        super().confirm_login_allowed(user)
        _confirm_can_log_in(user)


class RegisterForm(forms.Form):
    username = forms.CharField(
        max_length=150,
        help_text="3 to 32 letters A-Z, digits, dots, dashes or underscores.",
        widget=forms.TextInput(attrs={"autocomplete": "username", "autofocus": True}),
    )
    display_name = forms.CharField(
        max_length=64,
        required=False,
        strip=False,
        help_text="Shown to other players; your username if empty.",
    )
    email = forms.EmailField(
        required=False,
        help_text="Optional; never shown to others.",
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    password1 = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    password2 = forms.CharField(
        label="Password again",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean_username(self) -> str:
        return _checked(services.check_username, self.cleaned_data["username"])

    def clean_display_name(self) -> str:
        return _checked(services.check_display_name, self.cleaned_data["display_name"])

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("password1") != cleaned.get("password2"):
            self.add_error("password2", "The two passwords differ.")
        return cleaned

    def save(self) -> User | None:
        """Create the account, or add the service's complaint to the form and return None."""
        data = self.cleaned_data
        try:
            return services.register_user(
                data["username"], data["password1"], data["email"], data["display_name"]
            )
        except InvalidFieldError as exc:
            self.add_error("password1" if exc.field == "password" else exc.field, exc.messages)
            return None


class _ProfileFieldsMixin(forms.ModelForm[User]):
    """Apply the profile rules to the admin's user forms too."""

    def clean_display_name(self) -> str:
        user = self.instance if isinstance(self.instance, User) else None
        return _checked(
            lambda name: services.check_display_name(name, user), self.cleaned_data["display_name"]
        )

    def clean_color(self) -> str:
        return _checked(services.check_color, self.cleaned_data["color"])

    def clean_status_text(self) -> str:
        return _checked(services.check_status_text, self.cleaned_data["status_text"])

    def clean_bio(self) -> str:
        return _checked(services.check_bio, self.cleaned_data["bio"])


class AdminUserChangeForm(_ProfileFieldsMixin, auth_forms.UserChangeForm[User]):
    class Meta(auth_forms.UserChangeForm.Meta):
        model = User

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        role = self.fields.get("role")
        if isinstance(role, forms.ChoiceField):  # absent when read-only
            # Guests are never stored; set_role refuses the choice.
            role.choices = [c for c in User.Role.choices if c[0] != User.Role.GUEST]


class AdminUserCreationForm(auth_forms.AdminUserCreationForm[User]):
    class Meta(auth_forms.AdminUserCreationForm.Meta):
        model = User

    def clean_username(self) -> str:
        return _checked(services.check_username, super().clean_username())


BAN_DURATIONS: dict[str, timedelta | None] = {
    "1h": timedelta(hours=1),
    "1d": timedelta(days=1),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "permanent": None,
}


class SiteBanForm(forms.Form):
    duration = forms.ChoiceField(
        choices=[
            ("1h", "1 hour"),
            ("1d", "1 day"),
            ("7d", "7 days"),
            ("30d", "30 days"),
            ("permanent", "Permanently"),
        ]
    )
    reason = forms.CharField(max_length=services.REASON_MAX, help_text="Recorded in the log.")

    @property
    def ban_duration(self) -> timedelta | None:
        return BAN_DURATIONS[self.cleaned_data["duration"]]


class LiftBanForm(forms.Form):
    reason = forms.CharField(
        max_length=services.REASON_MAX, required=False, help_text="Recorded in the log."
    )


class ProfileForm(forms.Form):
    """The profile page: how others see you. Saved by ``services.update_profile``."""

    def __init__(self, *args: Any, user: User | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user

    display_name = forms.CharField(
        max_length=32,
        required=False,
        strip=False,
        help_text="Shown to other players; your username if empty.",
    )
    color = forms.CharField(
        label="Colour",
        max_length=7,
        help_text="Your keys light up in this colour for everyone in the room.",
        widget=forms.TextInput(attrs={"type": "color"}),
    )
    status_text = forms.CharField(label="Status", max_length=128, required=False, strip=False)
    bio = forms.CharField(
        max_length=2000, required=False, strip=False, widget=forms.Textarea(attrs={"rows": 4})
    )

    def clean_display_name(self) -> str:
        return _checked(
            lambda name: services.check_display_name(name, self.user),
            self.cleaned_data["display_name"],
        )

    def clean_color(self) -> str:
        return _checked(services.check_color, self.cleaned_data["color"])

    def clean_status_text(self) -> str:
        return _checked(services.check_status_text, self.cleaned_data["status_text"])

    def clean_bio(self) -> str:
        return _checked(services.check_bio, self.cleaned_data["bio"])
