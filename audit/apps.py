from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = _("Bitácora de cambios")

    def ready(self) -> None:
        from audit.receivers import connect_receivers

        connect_receivers()
