from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "analytics"
    verbose_name = "Analytics"

    def ready(self) -> None:
        from analytics import receivers, stats
        from observability.logs import route_daphne_access_log

        receivers.connect()
        # Counters still in memory are written when the process exits (SIGTERM included:
        # Daphne stops its reactor and exits normally).
        stats.install_exit_flush()
        route_daphne_access_log()
