"""URLs of the technicians' pages (phone first): the worklist, the three field forms and the photos."""

from django.urls import path

from web import field, photos

urlpatterns = [
    path("", field.worklist_view, name="worklist"),
    path("visitas/<int:pk>/", field.technical_visit_view, name="field_technical_visit"),
    path("solicitudes/<int:pk>/instalacion/", field.installation_view, name="field_installation"),
    path("sistemas/<int:pk>/mantenimiento/", field.maintenance_view, name="field_maintenance"),
    # Private: sent only to staff who may see the photo's record (never from MEDIA_URL).
    path("fotos/<int:pk>/", photos.photo_view, name="field_photo"),
]
