from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    name = "realtime"
    verbose_name = "Real-time"

    def ready(self) -> None:
        # Connects the receivers that carry bans, room changes and logouts to live sockets.
        from realtime import receivers  # noqa: F401
        from realtime.counts import is_live_member, live_member_counts
        from rooms import services

        services.set_presence_reader(live_member_counts, is_live_member)
