from django.apps import AppConfig


class UsersConfig(AppConfig):
    name = "users"
    verbose_name = "Users"

    def ready(self) -> None:
        # Registers the OpenAPI extension for our JWT authentication class, and the
        # receivers that revoke tokens and tell sockets when an account changes.
        from users import receivers, schema  # noqa: F401
