from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from analytics import urls as analytics_urls
from realtime import urls as realtime_urls
from rooms import pages
from rooms import urls as rooms_urls
from users import urls as users_urls

api_v1 = [
    *users_urls.api_patterns,
    *rooms_urls.api_patterns,
    *realtime_urls.api_patterns,
    *analytics_urls.api_patterns,
]

urlpatterns = [
    path("", pages.lobby, name="home"),
    path("r/<path:name>", pages.room, name="room"),
    path("protocol/v1.proto", pages.protocol_schema, name="protocol-schema"),
    path("accounts/", include(users_urls.page_patterns)),
    path("admin/", admin.site.urls),
    # /healthz, /readyz, /status/, /metrics
    path("", include(analytics_urls.page_patterns)),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's start-up script as a file: no inline script (CSP).
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="swagger-ui"),
]

# Requests refused before any view, and unknown paths, answer in the API's error shape under
# /api/ (foundation.api).
handler400 = "foundation.api.bad_request"
handler404 = "foundation.api.page_not_found"
