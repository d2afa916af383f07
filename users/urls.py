from django.contrib.auth import views as auth_views
from django.urls import URLPattern, URLResolver, path

from users import views

api_patterns: list[URLPattern | URLResolver] = [
    path("auth/register", views.RegisterView.as_view(), name="auth-register"),
    path("auth/token", views.TokenObtainView.as_view(), name="auth-token"),
    path("auth/token/refresh", views.TokenRefreshView.as_view(), name="auth-token-refresh"),
    path("auth/token/verify", views.VerifyView.as_view(), name="auth-token-verify"),
    path("auth/logout", views.LogoutView.as_view(), name="auth-logout"),
    path("users/me", views.MeView.as_view(), name="users-me"),
    path("users/<str:username>", views.ProfileView.as_view(), name="users-profile"),
]

page_patterns: list[URLPattern | URLResolver] = [
    path("login/", views.LoginPageView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("register/", views.RegisterPageView.as_view(), name="register"),
    path("profile/", views.ProfilePageView.as_view(), name="profile"),
]
