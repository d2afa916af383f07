from django.urls import URLPattern, URLResolver, path

from realtime.views import TicketView

api_patterns: list[URLPattern | URLResolver] = [
    path("realtime/tickets", TicketView.as_view(), name="realtime-tickets"),
]
