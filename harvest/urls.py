"""Top-level URLs: the admin (in Spanish by default) and the API."""

from django.contrib import admin
from django.urls import include, path
from django.utils.translation import gettext_lazy as _

admin.site.site_header = _("Harvest · Cosecha de Lluvia")
admin.site.site_title = _("Harvest")
admin.site.index_title = _("Administración del programa")

urlpatterns = [
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("api/v1/", include("api.urls")),
]
