"""OpenAPI description of the project's authentication class (drf-spectacular extension)."""

from __future__ import annotations

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme


class ActiveUserJWTScheme(SimpleJWTScheme):
    target_class = "users.authentication.ActiveUserJWTAuthentication"
