"""Account pages and the accounts REST API. Thin: each view calls one service."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import resolve_url
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.generic import FormView
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, permissions, status
from rest_framework.exceptions import NotAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.views import TokenViewBase

from foundation.api import ErrorSerializer
from observability.throttles import ScopedRateThrottle, SimpleRateThrottle
from users import lockout, services
from users.exceptions import SiteBannedError
from users.forms import LoginForm, ProfileForm, RegisterForm
from users.models import User
from users.serializers import (
    LoginSerializer,
    LogoutSerializer,
    MeSerializer,
    PublicProfileSerializer,
    RefreshSerializer,
    RegisteredSerializer,
    RegisterSerializer,
    TokenPairSerializer,
    VerifySerializer,
)

SESSION_BACKEND = "users.backends.SiteBanAwareBackend"

_ERROR = OpenApiResponse(ErrorSerializer, description='`{"code", "message"}`')
_BANNED = OpenApiResponse(
    description='Site-banned: `{"code": "SITE_BANNED", "message", "until", "reason"}`; '
    "`until` is null for a permanent ban."
)


def _current_user(request: Request) -> User:
    user = request.user
    if not isinstance(user, User):  # IsAuthenticated ran before; keeps the type checker honest
        raise NotAuthenticated()
    return user


# --- REST: tokens ----------------------------------------------------------------------


class _TokenView(TokenViewBase):
    """simplejwt's base: no authentication, 401 (with WWW-Authenticate) on bad credentials."""

    def handle_exception(self, exc: Exception) -> Response:
        if lockout.is_locked_out(self.request):  # repeated wrong passwords (users.lockout)
            retry_after = lockout.retry_after_seconds()
            body = {
                "code": "RATE_LIMITED",
                "message": lockout.LOCKED_OUT_MESSAGE,
                "retry_after": retry_after,
            }
            return Response(body, status=429, headers={"Retry-After": str(retry_after)})
        if isinstance(exc, SiteBannedError):  # its end and reason are part of the answer
            until = exc.until.isoformat() if exc.until else None
            body = {"code": exc.code, "message": exc.message, "until": until, "reason": exc.reason}
            return Response(body, status=exc.http_status)
        return super().handle_exception(exc)


class TokenObtainView(_TokenView):
    """Username and password for an access/refresh token pair. 10 attempts a minute per IP."""

    serializer_class = LoginSerializer
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "auth"

    @extend_schema(
        responses={200: TokenPairSerializer, 401: _ERROR, 403: _BANNED, 429: _ERROR},
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().post(request, *args, **kwargs)


class TokenRefreshView(_TokenView):
    """A refresh token for a new pair; the one sent is blacklisted (rotation)."""

    serializer_class = RefreshSerializer

    @extend_schema(responses={200: TokenPairSerializer, 401: _ERROR, 403: _BANNED})
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().post(request, *args, **kwargs)


class VerifyView(_TokenView):
    """Whether an access token is good now: signed, unexpired, an access (not a refresh)
    token, of an active, unbanned user, issued under the current password, of a sign-in
    that has not ended."""

    serializer_class = VerifySerializer

    @extend_schema(responses={200: None, 401: _ERROR})
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().post(request, *args, **kwargs)


class LogoutView(_TokenView):
    """Blacklist a refresh token, ending that sign-in."""

    serializer_class = LogoutSerializer

    @extend_schema(responses={204: None, 401: _ERROR})
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        super().post(request, *args, **kwargs)
        return Response(status=status.HTTP_204_NO_CONTENT)


class RegisterView(generics.GenericAPIView[User]):
    """Create an account; answers with it and a token pair. Throttled per IP."""

    serializer_class = RegisterSerializer
    permission_classes = [permissions.AllowAny]
    authentication_classes = []  # so the throttle counts per IP, signed in or not
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "register"

    @extend_schema(responses={201: RegisteredSerializer, 400: _ERROR, 429: _ERROR})
    def post(self, request: Request) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = serializer.save()
        body = {"user": MeSerializer(user).data, **services.issue_tokens(user)}
        return Response(body, status=status.HTTP_201_CREATED)


# --- REST: users -----------------------------------------------------------------------


class MeView(generics.GenericAPIView[User]):
    """The signed-in user's account: read it, or change profile fields and email."""

    serializer_class = MeSerializer
    permission_classes = [permissions.IsAuthenticated]

    def get(self, request: Request) -> Response:
        return Response(MeSerializer(_current_user(request)).data)

    def patch(self, request: Request) -> Response:
        user = _current_user(request)
        serializer = MeSerializer(user, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        services.update_profile(user, **serializer.validated_data)
        return Response(MeSerializer(user).data)


class ProfileView(generics.GenericAPIView[User]):
    """Anyone's public profile, by username (any case)."""

    serializer_class = PublicProfileSerializer
    permission_classes = [permissions.AllowAny]

    @extend_schema(responses={200: PublicProfileSerializer, 404: _ERROR})
    def get(self, request: Request, username: str) -> Response:
        return Response(PublicProfileSerializer(services.get_public_profile(username)).data)


# --- Pages -----------------------------------------------------------------------------


class _FormThrottle(SimpleRateThrottle):
    """The API's per-IP budget for ``scope``, with the same cache key as ScopedRateThrottle:
    guesses through the web form and through the API count against one budget."""

    def __init__(self, scope: str) -> None:
        self.scope = scope
        super().__init__()

    def get_cache_key(self, request: Request, view: APIView) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


def _over_rate(request: HttpRequest, scope: str) -> bool:
    return not _FormThrottle(scope).allow_request(Request(request), APIView())


class LoginPageView(auth_views.LoginView):
    template_name = "registration/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if _over_rate(request, "auth"):
            context = self.get_context_data(form=self.get_form_class()(request), rate_limited=True)
            return self.render_to_response(context, status=429)
        return super().post(request, *args, **kwargs)


class RegisterPageView(FormView[RegisterForm]):
    template_name = "registration/register.html"
    form_class = RegisterForm

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if _over_rate(request, "register"):
            context = self.get_context_data(form=self.form_class(), rate_limited=True)
            return self.render_to_response(context, status=429)
        return super().post(request, *args, **kwargs)

    def form_valid(self, form: RegisterForm) -> HttpResponse:
        user = form.save()
        if user is None:
            return self.form_invalid(form)
        login(self.request, user, backend=SESSION_BACKEND)
        return HttpResponseRedirect(self.get_success_url())

    def get_success_url(self) -> str:
        target = self.request.POST.get("next") or self.request.GET.get("next", "")
        safe = url_has_allowed_host_and_scheme(
            target, allowed_hosts={self.request.get_host()}, require_https=self.request.is_secure()
        )
        return target if safe else resolve_url("home")


def _page_user(request: HttpRequest) -> User:
    user = request.user
    if not isinstance(user, User):  # LoginRequiredMixin ran before; keeps the type checker honest
        raise PermissionDenied
    return user


class ProfilePageView(LoginRequiredMixin, FormView[ProfileForm]):
    """Edit how others see you: display name, colour, status and bio."""

    template_name = "registration/profile.html"
    form_class = ProfileForm

    def get_form_kwargs(self) -> dict[str, Any]:
        return {**super().get_form_kwargs(), "user": _page_user(self.request)}

    def get_initial(self) -> dict[str, Any]:
        user = _page_user(self.request)
        return {
            "display_name": user.display_name,
            "color": user.color,
            "status_text": user.status_text,
            "bio": user.bio,
        }

    def form_valid(self, form: ProfileForm) -> HttpResponse:
        user = _page_user(self.request)
        services.update_profile(user, **form.cleaned_data)
        messages.success(self.request, "Profile saved.")
        return HttpResponseRedirect(resolve_url("profile"))
