from django.apps import AppConfig


class UsersConfig(AppConfig):
    name = "users"
    verbose_name = "Users"

    def ready(self) -> None:
        # Registers the OpenAPI extension for our JWT authentication class.
        from users import schema  # noqa: F401
