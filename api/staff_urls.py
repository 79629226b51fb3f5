"""Staff endpoints: one router for the resources, plus the caller's own worklist."""

from django.urls import path
from rest_framework.routers import DefaultRouter

from api import coverage, exports, imports, views

router = DefaultRouter()
router.register("alcaldias", views.AlcaldiaViewSet, basename="alcaldia")
router.register("colonias", views.ColoniaViewSet, basename="colonia")
router.register("program-years", views.ProgramYearViewSet, basename="program-year")
router.register(r"program-years/(?P<year>[0-9]{4})/eligible-colonias", views.EligibleColoniaViewSet, basename="eligible-colonia")
router.register("applications", views.ApplicationViewSet, basename="application")
router.register("technical-visits", views.TechnicalVisitViewSet, basename="technical-visit")
router.register("installations", views.InstallationViewSet, basename="installation")
router.register("maintenance-visits", views.MaintenanceVisitViewSet, basename="maintenance-visit")

urlpatterns = [
    path("me/worklist/", views.WorklistView.as_view(), name="worklist"),
    path("coverage/", coverage.CoverageView.as_view(), name="coverage"),
    path("coverage/refresh/", coverage.CoverageRefreshView.as_view(), name="coverage-refresh"),
    path("jobs/<uuid:pk>/", coverage.JobView.as_view(), name="job-detail"),
    path("imports/", imports.ImportView.as_view(), name="imports"),
    path("exports/installations.csv", exports.InstallationExportCSVView.as_view(), name="export-installations-csv"),
    path("exports/installations.xlsx", exports.InstallationExportXLSXView.as_view(), name="export-installations-xlsx"),
    path("exports/applications.csv", exports.ApplicationExportCSVView.as_view(), name="export-applications-csv"),
    path("exports/applications.xlsx", exports.ApplicationExportXLSXView.as_view(), name="export-applications-xlsx"),
    path("exports/padron.csv", exports.PadronExportCSVView.as_view(), name="export-padron-csv"),
    path("exports/padron.xlsx", exports.PadronExportXLSXView.as_view(), name="export-padron-xlsx"),
    path("exports/files/<uuid:pk>/", exports.ExportFileView.as_view(), name="export-file"),
]
