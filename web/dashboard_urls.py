"""URLs of the managers' dashboard (coordinators and administrators), under /tablero/."""

from django.urls import path

from web import dashboard, dashboard_exports

urlpatterns = [
    path("", dashboard.dashboard, name="dashboard"),
    path("mapa.json", dashboard.dashboard_map_points, name="dashboard_map_points"),
    path("actualizar/", dashboard.dashboard_refresh, name="dashboard_refresh"),
    path("trabajos/<uuid:pk>/", dashboard.dashboard_job, name="dashboard_job"),
    path("descargar/<slug:kind>.<slug:file_format>", dashboard_exports.dashboard_download, name="dashboard_download"),
    path("descargas/<uuid:pk>/", dashboard_exports.dashboard_export, name="dashboard_export"),
]
