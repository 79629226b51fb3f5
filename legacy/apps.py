from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LegacyConfig(AppConfig):
    name = "legacy"
    verbose_name = _("Hojas de cálculo legadas")

    def ready(self) -> None:
        # The export log's admin lives apart from legacy.admin (the import pages), which autodiscovery loads.
        from legacy import admin_exports  # noqa: F401
