from django.urls import URLPattern, URLResolver, path

from analytics import views

api_patterns: list[URLPattern | URLResolver] = [
    path("users/<str:username>/stats", views.UserStatsView.as_view(), name="users-stats"),
    path("stats", views.SiteStatsView.as_view(), name="site-stats"),
    path("leaderboard", views.LeaderboardView.as_view(), name="leaderboard"),
]

page_patterns: list[URLPattern | URLResolver] = [
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("status/", views.status_page, name="status"),
    path("metrics", views.metrics, name="metrics"),
]
