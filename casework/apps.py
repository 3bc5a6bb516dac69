from django.apps import AppConfig


class CaseworkConfig(AppConfig):
    name = "casework"
    verbose_name = "Rollcall casework"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Django's way: signal handlers connect once the apps are ready, not at import.
        from casework import audited

        audited.connect()  # the sign-in receivers connect as the module is imported
