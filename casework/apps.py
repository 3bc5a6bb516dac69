from django.apps import AppConfig
from django.conf import settings

from alerts import AlertSettings, configure_alerts
from cnis import CnisSettings, configure_cnis
from oversight import OversightSettings, configure_oversight


class CaseworkConfig(AppConfig):
    name = "casework"
    verbose_name = "Rollcall casework"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Django's way: signal handlers connect once the apps are ready, not at import.
        from casework import audited

        audited.connect()  # the sign-in receivers connect as the module is imported
        # The rooms' settings, as Django's settings read them from the environment.
        configure_oversight(OversightSettings.from_environ(settings.ROLLCALL_ENVIRON))
        configure_alerts(AlertSettings.from_environ(settings.ROLLCALL_ENVIRON))
        configure_cnis(CnisSettings.from_environ(settings.ROLLCALL_ENVIRON))
