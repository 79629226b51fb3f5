"""The pages people use: households (no account), technicians (on their phones), managers (the dashboard).

Each audience has its own URL module, views and templates (``web/public*.py``, ``web/field*.py``,
``web/dashboard*.py``); they share ``web/templates/web/base.html``, signing in and out
(``web/views.py``) and the static assets under ``web/static/web`` and ``vendor/`` (npm packages
served by the app itself, never from a CDN).
"""

from django.urls import include, path

from web import views

app_name = "web"

urlpatterns = [
    path("entrar/", views.LoginView.as_view(), name="login"),
    path("salir/", views.LogoutView.as_view(), name="logout"),
    path("inicio/", views.after_login, name="after_login"),
    path("campo/", include("web.field_urls")),
    path("tablero/", include("web.dashboard_urls")),
    path("", include("web.public_urls")),
]
