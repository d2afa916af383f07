"""Health probes, the status page, /metrics, and the statistics REST API. Thin adapters."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from django_prometheus.exports import ExportToDjangoView
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from analytics import services
from analytics.serializers import (
    LeaderboardSerializer,
    PlayerStatsSerializer,
    SiteStatsSerializer,
)
from foundation.api import ErrorSerializer
from observability import access, health
from observability.metrics import live_numbers

TAGS = ["statistics"]

# --- Probes and status -------------------------------------------------------------------------


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers. Touches nothing else."""
    return JsonResponse({"status": "ok"})


def _components() -> tuple[bool, dict[str, str]]:
    states = health.check_components()
    return all(s.healthy for s in states), {s.name: s.state for s in states}


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: the database and (if configured) Redis answer. 503 names what does not."""
    ready, components = _components()
    if ready:
        return JsonResponse({"status": "ready", "components": components})
    failing = [name for name, state in components.items() if state == health.DOWN]
    return JsonResponse(
        {"status": "unavailable", "components": components, "failing": failing}, status=503
    )


@never_cache
@require_GET
def status_page(request: HttpRequest) -> HttpResponse:
    """The human status page: version, uptime, components and this process's live numbers."""
    ready, components = _components()
    live = live_numbers()
    uptime = int(live.uptime_seconds)
    context = {
        "version": settings.VERSION,
        "ready": ready,
        "components": sorted(components.items()),
        "live": live,
        "uptime": f"{uptime // 86400}d {uptime % 86400 // 3600}h {uptime % 3600 // 60}m",
    }
    return render(request, "analytics/status.html", context)


def metrics_allowed(request: HttpRequest) -> bool:
    """Whether ``request`` may read /metrics: an allowed address or the bearer token."""
    if access.bearer_token_matches(
        request.headers.get("Authorization", ""), settings.METRICS_TOKEN
    ):
        return True
    address = access.client_address(
        request.META.get("REMOTE_ADDR", ""),
        request.META.get("HTTP_X_FORWARDED_FOR", ""),
        api_settings.NUM_PROXIES or 0,
    )
    return access.address_allowed(address, settings.METRICS_ALLOWED_NETWORKS)


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus exposition: django-prometheus' metrics and the real-time layer's."""
    if not metrics_allowed(request):
        return JsonResponse(
            {"code": "FORBIDDEN", "message": "Metrics are not available to this client."},
            status=403,
        )
    response: HttpResponse = ExportToDjangoView(request)
    return response


# --- REST ------------------------------------------------------------------------------------


class UserStatsView(APIView):
    """A player's statistics and their last 30 days of activity (for the profile chart)."""

    permission_classes = [AllowAny]

    @extend_schema(tags=TAGS, responses={200: PlayerStatsSerializer, 404: ErrorSerializer})
    def get(self, request: Request, username: str) -> Response:
        return Response(PlayerStatsSerializer(services.user_stats(username)).data)


class SiteStatsView(APIView):
    """Site totals, today's activity, and the answering instance's live numbers."""

    permission_classes = [AllowAny]

    @extend_schema(tags=TAGS, responses={200: SiteStatsSerializer})
    def get(self, request: Request) -> Response:
        return Response(SiteStatsSerializer(services.site_stats()).data)


class LeaderboardView(APIView):
    """The top 50 players by notes played, chat messages or time in rooms."""

    permission_classes = [AllowAny]

    @extend_schema(
        tags=TAGS,
        parameters=[
            OpenApiParameter(
                "metric",
                OpenApiTypes.STR,
                OpenApiParameter.QUERY,
                enum=sorted(services.LEADERBOARD_METRICS),
                default="notes",
            )
        ],
        responses={200: LeaderboardSerializer, 400: ErrorSerializer},
    )
    def get(self, request: Request) -> Response:
        metric = request.query_params.get("metric", "notes")
        body: dict[str, Any] = {"metric": metric, "results": services.leaderboard(metric)}
        return Response(LeaderboardSerializer(body).data)
