from django.urls import URLPattern, URLResolver, path

from rooms import views

api_patterns: list[URLPattern | URLResolver] = [
    path("rooms/", views.RoomListView.as_view(), name="room-list"),
    path("rooms/<uuid:id>", views.RoomDetailView.as_view(), name="room-detail"),
    path("rooms/<uuid:id>/messages", views.RoomMessagesView.as_view(), name="room-messages"),
    path("rooms/<uuid:id>/bans", views.RoomBansView.as_view(), name="room-bans"),
    path(
        "rooms/<uuid:id>/bans/<str:subject>",
        views.RoomBanDetailView.as_view(),
        name="room-ban-detail",
    ),
]
