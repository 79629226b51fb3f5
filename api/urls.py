"""The REST API under /api/v1/: one router for the staff resources, plus auth and public endpoints."""

from django.urls import include, path

from api.staff_urls import router

urlpatterns = [
    path("auth/", include("api.auth_urls")),
    path("public/", include("api.public_urls")),
    path("", include("api.staff_urls")),
    *router.urls,
]
