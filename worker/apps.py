from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WorkerConfig(AppConfig):
    name = "worker"
    verbose_name = _("Trabajos en segundo plano")

    def ready(self) -> None:
        from worker import signals  # noqa: F401 -- connects the Celery signal receivers
