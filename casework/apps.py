from django.apps import AppConfig


class CaseworkConfig(AppConfig):
    name = "casework"
    verbose_name = "Rollcall casework"
    default_auto_field = "django.db.models.BigAutoField"
