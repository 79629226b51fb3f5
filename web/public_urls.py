"""URLs of the households' pages (no account): the program, the request, the status, the privacy notice."""

from django.urls import path

from web import public

urlpatterns = [
    path("", public.home, name="home"),
    path("solicitar/", public.register, name="register"),
    path("estado/", public.status, name="status"),
    path("privacidad/", public.privacy, name="privacy"),
]
